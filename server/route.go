package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/zone"
)

// maxHops bounds forwarding (cluster.MaxHops).
const maxHops = cluster.MaxHops

// errNotInitialized is returned in cluster mode before `cluster init`.
var errNotInitialized = cluster.ErrNotInitialized

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
	h := n.zones.Get(z)
	if h == nil || !h.Voter() || !h.Replica().IsLeader() {
		n.forwardToZone(w, r, body, z, true)
		return
	}
	res, err := n.zones.ApplyGated(r.Context(), h, cmd)
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
	h := n.zones.Get(z)
	if stale || inject.On(inject.StaleRead) {
		if h == nil {
			n.forwardToZone(w, r, nil, z, false)
			return
		}
		n.staleHeaders(w, h)
	} else {
		if h == nil || !h.Voter() || !h.Replica().IsLeader() {
			n.forwardToZone(w, r, nil, z, false)
			return
		}
		if !n.zones.LeaseValid(h) {
			writeError(w, api.Errorf(api.CodeLeaseExpired, "zone %s holds no ownership lease; its state may be stale", z))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ReadTimeout)
		err := h.Replica().Linearizable(ctx, n.cfg.ReadTimeout)
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
		if owned, epoch := h.FSM().Owns(user); !owned {
			e := api.Errorf(api.CodeWrongZone, "shard %d of user %d is not served by %s now (epoch %d); refresh routes and retry", user%fsm.NumShards, user, z, epoch)
			e.Epoch = n.routeEpoch()
			writeError(w, e)
			return
		}
	}
	v, rerr := read(h.FSM())
	if rerr != nil {
		writeError(w, apiError(rerr))
		return
	}
	if h.Store() && h.FSM().Isolated(user) {
		// The zone's latest writes to this account may be missing here.
		w.Header().Set(HeaderIsolated, "true")
	}
	writeJSON(w, http.StatusOK, v)
}

func (n *Node) staleHeaders(w http.ResponseWriter, h *zone.Hosted) {
	hd := w.Header()
	rf := h.Replica().Raft()
	hd.Set(HeaderStale, "true")
	hd.Set(HeaderAppliedIndex, strconv.FormatUint(h.FSM().AppliedIndex(), 10))
	hd.Set(HeaderCommitIndex, strconv.FormatUint(rf.CommitIndex(), 10))
	// Absent when this replica never heard from a leader.
	if h.Replica().IsLeader() {
		hd.Set(HeaderLastContact, "0")
	} else if lc := rf.LastContact(); !lc.IsZero() {
		hd.Set(HeaderLastContact, strconv.FormatInt(time.Since(lc).Milliseconds(), 10))
	}
}

// zoneLeaderHTTP returns the API address of zone's leader ("" when it is
// this node), waiting up to LeaderWait (cluster.Member.ZoneLeader).
func (n *Node) zoneLeaderHTTP(ctx context.Context, z string) (string, error) {
	return n.cluster.ZoneLeader(ctx, z)
}

// zoneLeaderNow is the API address of zone's leader as this node knows it
// now (cluster.Member.ZoneLeaderNow).
func (n *Node) zoneLeaderNow(z string) (string, bool) { return n.cluster.ZoneLeaderNow(z) }

// forwardToZone sends the request to zone's leader and copies its reply
// back (cluster.Member.Forward). For a write, a failure after the request
// may have reached the leader is an unknown outcome; a failure to connect
// is not.
func (n *Node) forwardToZone(w http.ResponseWriter, r *http.Request, body []byte, z string, write bool) {
	n.cluster.Forward(w, r, z, func(addr string, hops int, moved <-chan struct{}) bool {
		return n.proxy(w, r, body, addr, hops, write, moved)
	})
}

// proxy sends r (with body) to addr and copies the reply
// (peer.Client.Relay). It returns false, having written nothing, when moved
// closes before a reply arrives (the leader changed) and the parent request
// still stands.
func (n *Node) proxy(w http.ResponseWriter, r *http.Request, body []byte, addr string, hops int, write bool, moved <-chan struct{}) bool {
	return n.peer.Relay(w, r, body, addr, peer.Relay{Hops: hops, Write: write, Moved: moved, Timeout: n.cfg.ApplyTimeout + n.cfg.LeaderWait,
		Headers:      []string{"Content-Type", HeaderNode, HeaderStale, HeaderAppliedIndex, HeaderCommitIndex, HeaderLastContact, HeaderIsolated},
		LeaderHeader: HeaderLeader, Forget: n.forgetAddrs, Count: func(outcome string) { n.metrics.Forwarded.WithLabelValues(outcome).Inc() }})
}
