package server

import (
	"net/http"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// The guard marks' endpoints (docs/DESIGN.md, Failover). A zone leader's
// guard keeper (zone/guardkeeper.go, zone/marker.go) sends its marks and
// clears to the backup zone's leader, which checks and applies them here
// (zone/marks.go); a failover reads them back through handleInternalGuard.

// handleInternalMarks sets or clears guard marks of another zone in this
// node's zone, which it must lead (zone.ReplicaSet.ApplyMarks).
func (n *Node) handleInternalMarks(w http.ResponseWriter, r *http.Request) {
	var req zone.MarksRequest
	if err := decodeLarge(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	if err := n.zones.ApplyMarks(n.metaFSM, req); err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]int{"marks": len(req.Marks)})
}

// handleInternalGuard returns the marks of ?zone= held in this node's zone
// and the clear watermark, after a linearizable read on its leader.
func (n *Node) handleInternalGuard(w http.ResponseWriter, r *http.Request) {
	info, err := n.zones.ReadOwnGuard(r.Context(), r.URL.Query().Get("zone"), n.cfg.ReadTimeout)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, info)
}

// guardLoop clears, on the own zone's leader, the marks the backup zone's
// replicas have applied past (zone.GuardKeeper.Tick).
func (n *Node) guardLoop(stop <-chan struct{}) {
	n.every(stop, n.cfg.GuardClearInterval, n.guards.Tick)
}
