package server

import (
	"net/http"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/scheduler/run"
)

// The internal API of the batch scheduler (scheduler/run): leases and
// reports on the meta leader, due users and effects on zone leaders.

func (n *Node) handleInternalLease(w http.ResponseWriter, r *http.Request) {
	var req run.LeaseRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	grants, err := n.sched.Lease(r.Context(), req)
	if err != nil && len(grants) == 0 {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"grants": grants})
}

func (n *Node) handleInternalReport(w http.ResponseWriter, r *http.Request) {
	var req run.ReportRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	res, err := n.sched.Report(r.Context(), req)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}

// handleInternalEffects applies a batch of scheduler effects on this node,
// the leader of its zone: statements and reminders as one log entry of
// CmdNotify commands, auto-debits one user at a time through the bank
// (run.Scheduler.Effects). Requests a worker would not send are refused
// (run.EffectsRequest.Validate, run.Scheduler.CheckEffects).
func (n *Node) handleInternalEffects(w http.ResponseWriter, r *http.Request) {
	var req run.EffectsRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	if !n.clustered {
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "a standalone zone runs no scheduler"))
		return
	}
	if aerr := n.sched.CheckEffects(r.Context(), req); aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	h, err := n.zones.Lead(r.Context(), req.Group, n.cfg.ReadTimeout)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	rep, err := n.sched.Effects(r.Context(), schedGroup{n, h}, req)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, rep)
}

// handleInternalDue serves a page of a shard's due users (run.DueQuery)
// from this node, which must lead the group that owns the shard (?group=,
// default its own zone; zone.ReplicaSet.Lead), after the linearizable read
// protocol (run.ReadDue).
func (n *Node) handleInternalDue(w http.ResponseWriter, r *http.Request) {
	q, aerr := run.ParseDueQuery(r.URL.Query())
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	h, err := n.zones.Lead(r.Context(), q.Group, n.cfg.ReadTimeout)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	page, err := run.ReadDue(h.FSM(), h.Name(), q)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, page)
}
