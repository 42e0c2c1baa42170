package server

import (
	"net/http"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// The guard marks' endpoints (docs/DESIGN.md, Failover). A zone leader's
// guard keeper (zone/guardkeeper.go, zone/marker.go) sends its marks and
// clears to the backup zone's leader, which applies them here; a failover
// reads them back through handleInternalGuard.

// handleInternalMarks sets or clears guard marks of another zone in this
// node's zone, which it must lead. Without authentication (see
// checkMarks) it takes only what the marked zone's leader could send.
func (n *Node) handleInternalMarks(w http.ResponseWriter, r *http.Request) {
	var req zone.MarksRequest
	if err := decodeLarge(r, &req); err != nil {
		writeError(w, err)
		return
	}
	c := fsm.Command{Type: fsm.CmdMark, NodeID: req.Zone, Marks: req.Marks}
	if req.Clear {
		c = fsm.Command{Type: fsm.CmdGuardClear, NodeID: req.Zone, Marks: req.Marks, Epoch: req.Watermark, Term: req.Sweep}
	}
	if err := c.Validate(); err != nil {
		writeError(w, apiError(err))
		return
	}
	h := n.zones.Own()
	if h == nil || !h.Replica().IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead its zone", n.cfg.NodeID))
		return
	}
	if aerr := n.checkMarks(h, req); aerr != nil {
		writeError(w, aerr)
		return
	}
	if _, err := n.apply(h, c); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"marks": len(req.Marks)})
}

// checkMarks refuses a marks request the marked zone's leader would not
// send, as far as this node can tell from its own async follower of that
// zone: the zone must be backed up here; no mark, clear or sweep may name
// a term the zone has not reached (marks are taken unchecked while the
// follower here is closed: they only make a failover more careful); a clear of marks (or a sweep) may rest
// only on a watermark the follower here has applied, and a bare watermark
// raise may not pass the zone's log. Which (term, seq) a mark really has
// cannot be checked here: only authentication of the caller closes that.
func (n *Node) checkMarks(h *zone.Hosted, req zone.MarksRequest) *api.Error {
	if !n.clustered {
		return api.Errorf(api.CodeInvalidArgument, "a standalone zone backs up no zone")
	}
	if z, ok := n.metaFSM.State().ZoneOf(req.Zone); !ok || z.Backup != h.Name() || z.Name == h.Name() {
		return api.Errorf(api.CodeInvalidArgument, "zone %s does not back up zone %q", h.Name(), req.Zone)
	}
	f := n.zones.Get(req.Zone)
	if f == nil || f.Voter() {
		if !req.Clear {
			return nil // a mark only makes a failover more careful: take it unchecked
		}
		return api.Errorf(api.CodeUnavailable, "node %s holds no replica of zone %s now; retry", n.cfg.NodeID, req.Zone)
	}
	term := f.Replica().Raft().CurrentTerm()
	for _, m := range req.Marks {
		if m.Term > term {
			return api.Errorf(api.CodeInvalidArgument, "mark of user %d names term %d; zone %s is at term %d", m.User, m.Term, req.Zone, term)
		}
	}
	if !req.Clear {
		return nil
	}
	if req.Sweep > term {
		return api.Errorf(api.CodeInvalidArgument, "sweep below term %d; zone %s is at term %d", req.Sweep, req.Zone, term)
	}
	if len(req.Marks) > 0 || req.Sweep > 0 {
		if applied := f.FSM().AppliedIndex(); req.Watermark > applied {
			return api.Errorf(api.CodeInvalidArgument, "clear rests on index %d; this replica of zone %s has applied %d", req.Watermark, req.Zone, applied)
		}
	} else if last := f.Replica().Raft().LastIndex(); req.Watermark > last {
		return api.Errorf(api.CodeUnavailable, "watermark %d is past the end of zone %s's log here (%d); retry", req.Watermark, req.Zone, last)
	}
	return nil
}

// handleInternalGuard returns the marks of ?zone= held in this node's zone
// and the clear watermark, after a linearizable read on its leader.
func (n *Node) handleInternalGuard(w http.ResponseWriter, r *http.Request) {
	z := r.URL.Query().Get("zone")
	h := n.zones.Own()
	if h == nil || !h.Replica().IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead its zone", n.cfg.NodeID))
		return
	}
	if err := h.Replica().Linearizable(r.Context(), n.cfg.ReadTimeout); err != nil {
		writeError(w, apiError(err))
		return
	}
	marks, err := h.FSM().Marks(z)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if marks == nil {
		marks = []uint64{}
	}
	writeJSON(w, http.StatusOK, zone.GuardInfo{Zone: z, Marks: marks, Watermark: h.FSM().GuardWatermark(z)})
}

// guardLoop clears, on the own zone's leader, the marks the backup zone's
// replicas have applied past (zone.GuardKeeper.Tick).
func (n *Node) guardLoop(stop <-chan struct{}) {
	n.every(stop, n.cfg.GuardClearInterval, n.guards.Tick)
}
