package server

import (
	"net/http"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// The guard marks' endpoints (docs/DESIGN.md, Failover). A zone leader's
// guard keeper (zone/guardkeeper.go, zone/marker.go) sends its marks and
// clears to the backup zone's leader, which checks (zone/marks.go) and
// applies them here; a failover reads them back through
// handleInternalGuard.

// handleInternalMarks sets or clears guard marks of another zone in this
// node's zone, which it must lead. Without authentication (see
// zone.ReplicaSet.CheckMarks, zone/marks.go) it takes only what the marked
// zone's leader could send.
func (n *Node) handleInternalMarks(w http.ResponseWriter, r *http.Request) {
	var req zone.MarksRequest
	if err := decodeLarge(r, &req); err != nil {
		writeError(w, err)
		return
	}
	c := req.Command()
	if err := c.Validate(); err != nil {
		writeError(w, apiError(err))
		return
	}
	h := n.zones.Own()
	if h == nil || !h.Replica().IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead its zone", n.cfg.NodeID))
		return
	}
	if aerr := n.zones.CheckMarks(h, n.metaFSM, req); aerr != nil {
		writeError(w, aerr)
		return
	}
	if _, err := n.apply(h, c); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"marks": len(req.Marks)})
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
	info, err := h.ReadGuard(r.Context(), z, n.cfg.ReadTimeout)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// guardLoop clears, on the own zone's leader, the marks the backup zone's
// replicas have applied past (zone.GuardKeeper.Tick).
func (n *Node) guardLoop(stop <-chan struct{}) {
	n.every(stop, n.cfg.GuardClearInterval, n.guards.Tick)
}
