package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/zone"
)

// maxHops bounds forwarding: client → any node → the zone's leader, plus one
// hop for a leader that changed on the way.
const maxHops = 2

// errNotInitialized is returned in cluster mode before `cluster init`.
var errNotInitialized = errors.New("server: cluster not initialized; run `rzone cluster init`")

// routeUser returns the zone that owns user's shard and the route epoch.
func (n *Node) routeUser(user uint64) (string, uint64, error) {
	if !n.clustered {
		z, e := zone.Single(n.cfg.Zone).Route(user)
		return string(z), e, nil
	}
	z, e, ok := n.metaFSM.Route(user)
	if !ok {
		return "", 0, errNotInitialized
	}
	return z, e, nil
}

func (n *Node) routeEpoch() uint64 {
	if !n.clustered {
		return 1
	}
	return n.metaFSM.State().Epoch
}

// serveWrite applies a validated write on the leader of the user's zone, or
// forwards it there. done renders the successful result.
func (n *Node) serveWrite(w http.ResponseWriter, r *http.Request, body []byte, cmd fsm.Command, done func(res fsm.Result)) {
	z, _, err := n.routeUser(cmd.User)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	h := n.hostedZone(z)
	if h == nil || !h.voter || !h.rep.IsLeader() {
		n.forwardToZone(w, r, body, z, true)
		return
	}
	res, err := n.applyGated(r.Context(), h, cmd)
	if errors.Is(err, ErrNotLeader) {
		n.forwardToZone(w, r, body, z, true)
		return
	}
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if e := n.commandError(cmd.User, res[0]); e != nil {
		writeError(w, e)
		return
	}
	done(res[0])
}

// applyGated applies cmds as one entry in zone h, which this node leads,
// behind the write gate: the zone's shard ownership is set up, it holds its
// ownership lease before the entry is proposed, and still holds it when the
// entry has committed (else the outcome is reported unknown: another zone
// may own the shard by then). Errors are *api.Error or wrap ErrNotLeader.
func (n *Node) applyGated(ctx context.Context, h *hosted, cmds ...fsm.Command) ([]fsm.Result, error) {
	if !n.waitReady(ctx, h) {
		return nil, api.Errorf(api.CodeUnavailable, "zone %s is still taking over its shards; retry", h.zone)
	}
	if !n.leaseValid(h) {
		return nil, api.Errorf(api.CodeLeaseExpired, "zone %s holds no ownership lease from the meta group; not applied, retry", h.zone)
	}
	res, err := n.apply(h, cmds...)
	if err != nil {
		return nil, err
	}
	n.notePayments(h, cmds, res)
	if !n.leaseValid(h) {
		return nil, api.Errorf(api.CodeUnknownOutcome, "zone %s lost its ownership lease while the write committed; retry with the same key", h.zone)
	}
	return res, nil
}

// commandError is the API error of one command's result on user, or nil:
// a shard that is moving is unavailable for the move's short while, a shard
// owned elsewhere is wrong_zone with the current route epoch.
func (n *Node) commandError(user uint64, r fsm.Result) *api.Error {
	if r.Code == fsm.WrongZone && n.clustered {
		shard := user % fsm.NumShards
		if rt := n.metaFSM.State().Shards[shard]; rt.Target != "" {
			return api.Errorf(api.CodeUnavailable, "shard %d is moving to zone %s; not applied, retry", shard, rt.Target)
		}
	}
	e := resultError(r)
	if e != nil && r.Code == fsm.WrongZone {
		e.Epoch = n.routeEpoch()
	}
	return e
}

// createdStatus is a write's success status: 201 when it was applied now,
// 200 when its key had been decided before and this is the original result.
func createdStatus(replay bool) int {
	if replay {
		return http.StatusOK
	}
	return http.StatusCreated
}

// serveRead runs a read of user's data: from a local replica of the user's
// zone when ?stale=true, else after the linearizable read protocol on the
// zone's leader (other nodes forward).
func (n *Node) serveRead(w http.ResponseWriter, r *http.Request, user uint64, read func(f *fsm.FSM) (any, error)) {
	stale, aerr := staleParam(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	z, _, err := n.routeUser(user)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	h := n.hostedZone(z)
	if stale || inject.On(inject.StaleRead) {
		if h == nil {
			n.forwardToZone(w, r, nil, z, false)
			return
		}
		n.staleHeaders(w, h)
	} else {
		if h == nil || !h.voter || !h.rep.IsLeader() {
			n.forwardToZone(w, r, nil, z, false)
			return
		}
		if !n.leaseValid(h) {
			writeError(w, api.Errorf(api.CodeLeaseExpired, "zone %s holds no ownership lease; its state may be stale", z))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ReadTimeout)
		err := h.rep.Linearizable(ctx, n.cfg.ReadTimeout)
		cancel()
		if errors.Is(err, ErrNotLeader) {
			n.forwardToZone(w, r, nil, z, false)
			return
		}
		if err != nil {
			writeError(w, apiError(err))
			return
		}
		// A group that has given the shard up (a route this node has not
		// seen change yet) must not answer for it: its state is no longer
		// the account's.
		if owned, epoch := h.fsm.Owns(user); !owned {
			e := api.Errorf(api.CodeWrongZone, "shard %d of user %d is not served by %s now (epoch %d); refresh routes and retry", user%fsm.NumShards, user, z, epoch)
			e.Epoch = n.routeEpoch()
			writeError(w, e)
			return
		}
	}
	v, rerr := read(h.fsm)
	if rerr != nil {
		writeError(w, apiError(rerr))
		return
	}
	if h.store && h.fsm.Isolated(user) {
		// The zone's latest writes to this account may be missing here.
		w.Header().Set(HeaderIsolated, "true")
	}
	writeJSON(w, http.StatusOK, v)
}

func (n *Node) staleHeaders(w http.ResponseWriter, h *hosted) {
	hd := w.Header()
	rf := h.rep.Raft()
	hd.Set(HeaderStale, "true")
	hd.Set(HeaderAppliedIndex, strconv.FormatUint(h.fsm.AppliedIndex(), 10))
	hd.Set(HeaderCommitIndex, strconv.FormatUint(rf.CommitIndex(), 10))
	// Absent when this replica never heard from a leader.
	if h.rep.IsLeader() {
		hd.Set(HeaderLastContact, "0")
	} else if lc := rf.LastContact(); !lc.IsZero() {
		hd.Set(HeaderLastContact, strconv.FormatInt(time.Since(lc).Milliseconds(), 10))
	}
}

// zoneLeaderHTTP returns the API address of zone's leader ("" when it is
// this node), waiting up to LeaderWait: from the local replica of the zone
// if there is one, else from the zone's lease holder, else any node of the
// zone (which forwards once more).
func (n *Node) zoneLeaderHTTP(ctx context.Context, z string) (string, error) {
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for {
		if addr, ok := n.zoneLeaderNow(z); ok {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", errors.Join(ErrNoLeader, errors.New("zone "+z+" has no known leader"))
		}
		select {
		case <-ctx.Done():
			return "", errors.Join(ErrNoLeader, ctx.Err())
		case <-n.stop:
			return "", ErrShutdown
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (n *Node) zoneLeaderNow(z string) (string, bool) {
	if h := n.hostedZone(z); h != nil {
		if _, id := h.rep.Raft().LeaderWithID(); id != "" {
			if string(id) == n.cfg.NodeID {
				return "", true
			}
			if addr := n.httpAddrOf(string(id)); addr != "" {
				return addr, true
			}
		}
		if !n.clustered {
			return "", false
		}
	}
	if !n.clustered {
		return "", false
	}
	st := n.metaFSM.State()
	if l, ok := st.Lease(z); ok && l.Holder != "" && l.Holder != n.cfg.NodeID {
		if nd, ok := st.Node(l.Holder); ok {
			return nd.HTTPAddr, true
		}
	}
	host := st.HostZone(z)
	for _, nd := range st.Nodes {
		if nd.Zone == host && nd.ID != n.cfg.NodeID {
			return nd.HTTPAddr, true
		}
	}
	return "", false
}

// forwardToZone sends the request to zone's leader and copies its reply
// back. For a write, a failure after the request may have reached the
// leader is an unknown outcome; a failure to connect is not.
func (n *Node) forwardToZone(w http.ResponseWriter, r *http.Request, body []byte, z string, write bool) {
	hops, _ := strconv.Atoi(r.Header.Get(HeaderForwarded))
	if hops >= maxHops {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s cannot serve zone %s and the request was forwarded %d times; retry", n.cfg.NodeID, z, hops))
		return
	}
	addr, err := n.zoneLeaderHTTP(r.Context(), z)
	if err != nil {
		n.metrics.forwarded.WithLabelValues("no_leader").Inc()
		writeError(w, apiError(err))
		return
	}
	if addr == "" { // this node became the leader meanwhile
		writeError(w, api.Errorf(api.CodeUnavailable, "leadership of zone %s changed; retry", z))
		return
	}
	// If the zone's leader changes while the request waits on the old one
	// (paused, cut off), send it again to the new leader: every write
	// carries an idempotency key or is idempotent, so a second delivery
	// returns the first one's result.
	for try := 0; ; try++ {
		moved, done := n.watchLeader(r.Context(), z, addr)
		ok := n.proxy(w, r, body, addr, hops+1, write, moved.Done())
		done()
		if ok || try == 2 {
			return
		}
		next, found := n.zoneLeaderNow(z)
		if !found || next == "" || next == addr {
			writeError(w, api.Errorf(api.CodeUnknownOutcome, "leader of zone %s changed while the request waited; retry with the same key", z))
			return
		}
		n.metrics.forwarded.WithLabelValues("redirected").Inc()
		addr = next
	}
}

// watchLeader returns a context that is cancelled when zone's known leader
// stops being addr, and a func to stop watching.
func (n *Node) watchLeader(parent context.Context, z, addr string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if cur, ok := n.zoneLeaderNow(z); ok && cur != addr {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}

// proxy sends r (with body) to addr and copies the reply
// (peer.Client.Relay). It returns false, having written nothing, when moved
// closes before a reply arrives (the leader changed) and the parent request
// still stands.
func (n *Node) proxy(w http.ResponseWriter, r *http.Request, body []byte, addr string, hops int, write bool, moved <-chan struct{}) bool {
	return n.peer.Relay(w, r, body, addr, peer.Relay{Hops: hops, Write: write, Moved: moved, Timeout: n.cfg.ApplyTimeout + n.cfg.LeaderWait,
		Headers:      []string{"Content-Type", HeaderNode, HeaderStale, HeaderAppliedIndex, HeaderCommitIndex, HeaderLastContact, HeaderIsolated},
		LeaderHeader: HeaderLeader, Forget: n.forgetAddrs, Count: func(outcome string) { n.metrics.forwarded.WithLabelValues(outcome).Inc() }})
}

// waitReady waits up to LeaderWait for h's shard ownership to be set up.
func (n *Node) waitReady(ctx context.Context, h *hosted) bool {
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for !h.isReady() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
