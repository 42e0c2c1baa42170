package server

import (
	"context"
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

// serveWrite applies a validated write on the leader of the user's zone, or
// forwards it there (cluster.Member.Write). done renders the successful
// result.
func (n *Node) serveWrite(w http.ResponseWriter, r *http.Request, body []byte, cmd fsm.Command, done func(res fsm.Result)) {
	res, fwd, aerr := n.cluster.Write(r.Context(), cmd)
	switch {
	case fwd != "":
		n.forwardToZone(w, r, body, fwd, true)
	case aerr != nil:
		api.WriteError(w, aerr)
	default:
		done(res)
	}
}

// serveRead runs a read of user's data: from a local replica of the user's
// zone when ?stale=true, else after the linearizable read protocol on the
// zone's leader (cluster.Member.Read; other nodes forward).
func (n *Node) serveRead(w http.ResponseWriter, r *http.Request, user uint64, read func(f *fsm.FSM) (any, error)) {
	stale, aerr := api.StaleParam(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	stale = stale || inject.On(inject.StaleRead)
	h, fwd, aerr := n.cluster.Read(r.Context(), user, stale, n.cfg.ReadTimeout)
	if fwd != "" {
		n.forwardToZone(w, r, nil, fwd, false)
		return
	}
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	if stale {
		n.staleHeaders(w, h)
	}
	v, rerr := read(h.FSM())
	if rerr != nil {
		api.WriteError(w, cluster.APIError(rerr))
		return
	}
	if h.Store() && h.FSM().Isolated(user) {
		// The zone's latest writes to this account may be missing here.
		w.Header().Set(HeaderIsolated, "true")
	}
	api.WriteJSON(w, http.StatusOK, v)
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

// forwardToZone sends the request to zone's leader and copies its reply
// back (cluster.Member.Forward). For a write, a failure after the request
// may have reached the leader is an unknown outcome; a failure to connect
// is not.
func (n *Node) forwardToZone(w http.ResponseWriter, r *http.Request, body []byte, z string, write bool) {
	n.cluster.Forward(w, r, z, func(addr string, hops int, moved <-chan struct{}, inDoubt bool) bool {
		return n.proxy(w, r, body, addr, hops, write, moved, inDoubt)
	})
}

// proxy sends r (with body) to addr and copies the reply
// (peer.Client.Relay). It returns false, having written nothing, when moved
// closes before a reply arrives (the leader changed) and the parent request
// still stands.
func (n *Node) proxy(w http.ResponseWriter, r *http.Request, body []byte, addr string, hops int, write bool, moved <-chan struct{}, inDoubt bool) bool {
	return n.peer.Relay(w, r, body, addr, peer.Relay{Hops: hops, Write: write, InDoubt: inDoubt, Moved: moved, Timeout: n.cfg.ApplyTimeout + n.cfg.LeaderWait,
		Headers:      []string{"Content-Type", HeaderNode, HeaderStale, HeaderAppliedIndex, HeaderCommitIndex, HeaderLastContact, HeaderIsolated},
		LeaderHeader: HeaderLeader, Forget: n.cluster.ForgetAddrs, Count: func(outcome string) { n.metrics.Forwarded.WithLabelValues(outcome).Inc() }})
}
