package server

import (
	"net/http"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// handleCreateRun starts a run of a job for a cycle: POST
// /v1/jobs/{job}/runs {"cycle":"202611"}. The meta state machine takes the
// gray release (whitelist and window) from the config store as it stands
// at the run's creation, and keeps it with the run. While a
// run of the same job and cycle is going on, that run is returned (200)
// instead of a new one (201).
func (n *Node) handleCreateRun(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	job := r.PathValue("job")
	if aerr := n.sched.CheckJob(job); aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	var req api.RunRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	cycle, _ := api.ParseCycle(req.Cycle)
	res, err := n.cluster.Apply(r.Context(), fsm.MetaCmd{Type: fsm.MetaSchedCreateRun, Sched: &fsm.SchedCmd{Job: job, Cycle: cycle}})
	if metaRefused(w, res, err, api.CodeInvalidArgument) {
		return
	}
	status := http.StatusCreated
	if res.Sched.Exists {
		status = http.StatusOK
	}
	api.WriteJSON(w, status, n.sched.RunView(*res.Sched.Run))
}

// handleListRuns lists the runs the meta group keeps, newest first.
func (n *Node) handleListRuns(w http.ResponseWriter, r *http.Request) {
	if n.forwardSchedRead(w, r) {
		return
	}
	api.WriteJSON(w, http.StatusOK, n.sched.Runs())
}

// handleGetRun reports a run's progress.
func (n *Node) handleGetRun(w http.ResponseWriter, r *http.Request) {
	id, ok := api.PathRunID(w, r)
	if !ok || n.forwardSchedRead(w, r) {
		return
	}
	run, found := n.sched.FindRun(id)
	if !found {
		api.WriteError(w, api.Errorf(api.CodeNotFound, "run %d not found", id))
		return
	}
	api.WriteJSON(w, http.StatusOK, n.sched.RunView(run))
}

// handleCancelRun stops a run: no more tasks are leased, and reports of
// leases already out are refused.
func (n *Node) handleCancelRun(w http.ResponseWriter, r *http.Request) {
	id, ok := api.PathRunID(w, r)
	if !ok {
		return
	}
	if !n.clustered || !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	res, err := n.cluster.Apply(r.Context(), fsm.MetaCmd{Type: fsm.MetaSchedCancel, Sched: &fsm.SchedCmd{Run: id}})
	if metaRefused(w, res, err, api.CodeNotFound) {
		return
	}
	api.WriteJSON(w, http.StatusOK, n.sched.RunView(*res.Sched.Run))
}

// forwardSchedRead serves a run read from the meta leader, which knows the
// limit in force; it returns false when this node should answer itself (it
// leads, the request was forwarded already, or no leader is known).
func (n *Node) forwardSchedRead(w http.ResponseWriter, r *http.Request) bool {
	if !n.clustered {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return true
	}
	if n.meta.IsLeader() || r.Header.Get(HeaderForwarded) != "" {
		return false
	}
	addr, err := n.cluster.LeaderAPIAddr()
	if err != nil {
		return false
	}
	n.proxy(w, r, nil, addr, 1, false, nil, false)
	return true
}
