package server

import (
	"net/http"
	"strconv"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/scheduler/run"
)

// The internal API of the batch scheduler (scheduler/run): leases and
// reports on the meta leader, due users and effects on zone leaders.

func (n *Node) handleInternalLease(w http.ResponseWriter, r *http.Request) {
	var req run.LeaseRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	grants, err := n.sched.Lease(r.Context(), req)
	if err != nil && len(grants) == 0 {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": grants})
}

func (n *Node) handleInternalReport(w http.ResponseWriter, r *http.Request) {
	var req run.ReportRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	res, err := n.sched.Report(r.Context(), req)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// metaLeaderAddr is the API address of the meta group's leader.
func (n *Node) metaLeaderAddr() (string, error) {
	id, err := n.cluster.LeaderID()
	if err != nil {
		return "", err
	}
	if id == n.cfg.NodeID {
		return n.cfg.httpAdvertise(), nil
	}
	return n.cluster.LeaderAddr(id)
}

// handleInternalEffects applies a batch of scheduler effects on this node,
// the leader of its zone: statements and reminders as one log entry of
// CmdNotify commands, auto-debits one user at a time through the bank
// (run.Scheduler.Effects). Requests a worker would not send are refused
// (run.Scheduler.CheckEffects).
func (n *Node) handleInternalEffects(w http.ResponseWriter, r *http.Request) {
	var req run.EffectsRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if len(req.Users) == 0 || len(req.Users) > 10_000 {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "want 1 to 10000 users"))
		return
	}
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "a standalone zone runs no scheduler"))
		return
	}
	if aerr := n.sched.CheckEffects(r.Context(), req); aerr != nil {
		writeError(w, aerr)
		return
	}
	h, err := n.zones.Lead(r.Context(), req.Group, n.cfg.ReadTimeout)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	rep, err := n.sched.Effects(r.Context(), schedGroup{n, h}, req)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// handleInternalDue serves a page of a shard's due users from this node,
// which must lead the group that owns the shard (?group=, default its own
// zone; zone.ReplicaSet.Lead), after the linearizable read protocol
// (run.ReadDue).
func (n *Node) handleInternalDue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	shard, err1 := strconv.Atoi(q.Get("shard"))
	cycle, err2 := api.ParseCycle(q.Get("cycle"))
	from, err3 := strconv.ParseUint(q.Get("from"), 10, 64)
	hi, err4 := strconv.ParseUint(q.Get("hi"), 10, 64)
	limit, err5 := strconv.Atoi(q.Get("limit"))
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || shard < 0 || shard >= fsm.NumShards || limit <= 0 {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "want shard, cycle, from, hi and limit"))
		return
	}
	h, err := n.zones.Lead(r.Context(), q.Get("group"), n.cfg.ReadTimeout)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	page, err := run.ReadDue(h.FSM(), h.Name(), shard, cycle, from, hi, limit)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, page)
}
