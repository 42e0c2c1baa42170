package server

import (
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
)

// handleCreateRun starts a run of a job for a cycle: POST
// /v1/jobs/{job}/runs {"cycle":"202611"}. The meta state machine takes the
// gray release (whitelist and window) from the config store as it stands
// at the run's creation, and keeps it with the run. While a
// run of the same job and cycle is going on, that run is returned (200)
// instead of a new one (201).
func (n *Node) handleCreateRun(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	job := r.PathValue("job")
	if job != fsm.JobStatement && job != fsm.JobReminder && job != fsm.JobAutodebit {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "unknown job %q: want statement, reminder or autodebit", job))
		return
	}
	if job == fsm.JobAutodebit && n.cfg.Sched.Bank == nil {
		// A repayment is recorded for every debit the bank makes: with no
		// bank there is nothing to record.
		writeError(w, api.Errorf(api.CodeInvalidArgument, "no bank is configured on this node: an auto-debit run needs one (rzone server --bank; rzone dev uses a simulated bank)"))
		return
	}
	var req api.RunRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	cycle, _ := api.ParseCycle(req.Cycle)
	res, err := n.metaApply(r.Context(), fsm.MetaCmd{Type: fsm.MetaSchedCreateRun, Sched: &fsm.SchedCmd{Job: job, Cycle: cycle}})
	if metaRefused(w, res, err, api.CodeInvalidArgument) {
		return
	}
	status := http.StatusCreated
	if res.Sched.Exists {
		status = http.StatusOK
	}
	writeJSON(w, status, n.runView(*res.Sched.Run))
}

// handleListRuns lists the runs the meta group keeps, newest first.
func (n *Node) handleListRuns(w http.ResponseWriter, r *http.Request) {
	if n.forwardSchedRead(w, r) {
		return
	}
	out := api.RunList{Runs: []api.Run{}}
	if st := n.metaFSM.State(); st.Sched != nil {
		for i := len(st.Sched.Runs) - 1; i >= 0; i-- {
			out.Runs = append(out.Runs, n.runView(st.Sched.Runs[i]))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleGetRun reports a run's progress.
func (n *Node) handleGetRun(w http.ResponseWriter, r *http.Request) {
	id, ok := pathRunID(w, r)
	if !ok || n.forwardSchedRead(w, r) {
		return
	}
	run, found := n.findRun(id)
	if !found {
		writeError(w, api.Errorf(api.CodeNotFound, "run %d not found", id))
		return
	}
	writeJSON(w, http.StatusOK, n.runView(run))
}

// handleCancelRun stops a run: no more tasks are leased, and reports of
// leases already out are refused.
func (n *Node) handleCancelRun(w http.ResponseWriter, r *http.Request) {
	id, ok := pathRunID(w, r)
	if !ok {
		return
	}
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	res, err := n.metaApply(r.Context(), fsm.MetaCmd{Type: fsm.MetaSchedCancel, Sched: &fsm.SchedCmd{Run: id}})
	if metaRefused(w, res, err, api.CodeNotFound) {
		return
	}
	writeJSON(w, http.StatusOK, n.runView(*res.Sched.Run))
}

func pathRunID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "run id %q: want a positive integer", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// forwardSchedRead serves a run read from the meta leader, which knows the
// limit in force; it returns false when this node should answer itself (it
// leads, the request was forwarded already, or no leader is known).
func (n *Node) forwardSchedRead(w http.ResponseWriter, r *http.Request) bool {
	if !n.clustered {
		writeError(w, apiError(errNotInitialized))
		return true
	}
	if n.meta.IsLeader() || r.Header.Get(HeaderForwarded) != "" {
		return false
	}
	addr, err := n.metaLeaderAddr()
	if err != nil {
		return false
	}
	n.proxy(w, r, nil, addr, 1, false, nil)
	return true
}

func (n *Node) findRun(id uint64) (fsm.Run, bool) {
	st := n.metaFSM.State()
	if st.Sched == nil {
		return fsm.Run{}, false
	}
	i := slices.IndexFunc(st.Sched.Runs, func(r fsm.Run) bool { return r.ID == id })
	if i < 0 {
		return fsm.Run{}, false
	}
	return st.Sched.Runs[i], true
}

// runView renders a run's progress.
func (n *Node) runView(r fsm.Run) api.Run {
	now := clock.Now().UnixMilli()
	v := api.Run{ID: r.ID, Job: r.Job, Cycle: api.FormatCycle(r.Cycle), State: r.State, CreatedAt: api.FormatTime(r.Created),
		Ranges: len(r.Ranges), TasksDone: r.TasksDone, TasksTotal: r.TasksTotal, UsersDone: r.UsersDone, UsersTotal: r.UsersTotal,
		Skipped: r.Skipped, Failures: r.Failures, GenFailures: r.GenFailures, Expired: r.Expired, Fenced: r.Fenced,
		UsersPerSecond: rate(&r, now), Gray: len(r.Gray.Users) > 0, GrayActive: r.State == fsm.RunRunning && r.Gray.Active(now)}
	if r.Finished != 0 {
		v.FinishedAt = api.FormatTime(r.Finished)
	}
	for _, rg := range r.Ranges {
		if rg.Generated {
			v.Generated++
		}
	}
	// A summary carries no tasks; the state's run does.
	if full, ok := n.findRun(r.ID); ok {
		for _, t := range full.Tasks {
			v.TasksOpen++
			if t.Lease != 0 {
				v.TasksLeased++
			}
		}
	}
	if r.State == fsm.RunRunning {
		v.Limit = n.sched.CurrentLimit(r.Job)
	}
	return v
}

// rate returns users per second over the run's life so far.
func rate(r *fsm.Run, now int64) float64 {
	end := now
	if r.Finished != 0 {
		end = r.Finished
	}
	secs := float64(end-r.Created) / 1000
	if secs <= 0 {
		return 0
	}
	return math.Round(float64(r.UsersDone)/secs*10) / 10
}
