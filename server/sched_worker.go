package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
)

// work is one round of this node's worker: while it has free slots and a
// run is going on, it asks the scheduler leader for tasks of its own zone
// and runs each in a goroutine.
func (s *sched) work() {
	free := s.freeSlots()
	st := s.n.metaFSM.State()
	if free <= 0 || st.Drained(s.n.cfg.NodeID) || st.Removed(s.n.cfg.NodeID) || !pendingFor(st, s.n.cfg.Zone) {
		return // a drained node takes no task (the meta group refuses it one too)
	}
	addr, err := s.n.metaLeaderAddr()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.n.cfg.ApplyTimeout)
	defer cancel()
	var reply struct {
		Grants []fsm.Grant `json:"grants"`
	}
	req := leaseRequest{Worker: s.n.cfg.NodeID, Zone: s.n.cfg.Zone, Max: free}
	if err := s.n.postJSON(ctx, addr, "/v1/internal/sched/lease", req, &reply); err != nil {
		s.n.log.Debug("lease tasks", "err", err)
		return
	}
	for _, g := range reply.Grants {
		s.take()
		s.n.wg.Add(1)
		go func() {
			defer s.n.wg.Done()
			defer s.untake()
			s.runTask(g)
		}()
	}
}

// pendingFor reports whether a running run has a task not leased whose
// shard the route table gives to zone, or to a failover store zone hosts:
// whether asking for a lease can be worth a meta log entry. A lagging
// replica only delays the ask.
func pendingFor(st fsm.MetaState, zone string) bool {
	if st.Sched == nil {
		return false
	}
	for _, r := range st.Sched.Runs {
		if r.State != fsm.RunRunning {
			continue
		}
		if slices.ContainsFunc(r.Tasks, func(t *fsm.Task) bool {
			return t.Lease == 0 && st.HostZone(st.Shards[t.Shard].Zone) == zone && st.Shards[t.Shard].Target == ""
		}) {
			return true
		}
	}
	return false
}

func (s *sched) freeSlots() int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.cfg.Slots - s.running
}

func (s *sched) take() {
	s.wmu.Lock()
	s.running++
	s.m.tasksRun.Set(float64(s.running))
	s.wmu.Unlock()
}

func (s *sched) untake() {
	s.wmu.Lock()
	s.running--
	s.m.tasksRun.Set(float64(s.running))
	s.wmu.Unlock()
}

// taskRun is one leased task on this worker: its progress since the lease
// and what the downstream calls saw since the last report.
type taskRun struct {
	g        fsm.Grant
	deadline time.Time // by this node's clock, a little before the lease runs out
	next     uint64
	done     int64
	skipped  int64
	failures int64

	calls, failed int
	rttSum        time.Duration
	sent          time.Time
}

// runTask processes a leased task: it loads the task's users from the zone,
// applies their effects in batches through the zone's leader, checkpoints
// at a third of the lease, and completes the task. It stops when the lease
// is fenced or its time runs out unrenewed; the users after the last
// checkpoint then go to another lease, and effects being idempotent, what
// this worker did after it is not done twice.
func (s *sched) runTask(g fsm.Grant) {
	tr := &taskRun{g: g, next: g.Task.Lo}
	ttl := time.Duration(g.Task.TTLMs) * time.Millisecond
	tr.deadline = time.Now().Add(ttl * 9 / 10)
	lastReport := time.Now()
	zone, _ := s.n.metaFSM.State().Route(uint64(g.Task.Shard))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	users, err := s.taskUsers(ctx, zone, g)
	for try := 1; err != nil && try < 5 && ctx.Err() == nil; try++ {
		tr.failures++
		sleepCtx(ctx, time.Duration(try)*100*time.Millisecond)
		users, err = s.taskUsers(ctx, zone, g)
	}
	if err != nil {
		s.n.log.Debug("load task users", "task", g.Task.ID, "err", err)
		return // the lease runs out and the task is handed out again
	}
	end := g.Task.Hi + 1 // where this lease stops: the range's end, or after its share
	if t := g.Task.Take; t > 0 && t < int64(len(users)) {
		users, end = users[:t], users[t-1]+1
	}
	var lastErr error
	reported := 0 // users settled as of the last checkpoint
	for i := 0; i < len(users); {
		if time.Now().After(tr.deadline) || ctx.Err() != nil {
			return
		}
		batch := users[i:min(len(users), i+s.cfg.BatchUsers)]
		n, err := s.applyEffects(ctx, zone, tr, batch)
		i += n
		if n > 0 {
			tr.next = batch[n-1] + 1
		}
		if err != nil {
			tr.failures++
			lastErr = err
			s.n.log.Debug("effects", "task", g.Task.ID, "err", err)
			sleepCtx(ctx, 100*time.Millisecond)
		}
		if time.Since(lastReport) >= ttl/3 && i < len(users) {
			if i == reported {
				// No progress for a third of the lease: stop renewing, so the
				// lease runs out and another worker takes the task, rather
				// than hold a slot under the limit forever.
				s.n.log.Info("task stalled; letting its lease run out", "task", g.Task.ID, "err", lastErr)
				return
			}
			if !s.checkpoint(ctx, tr, false) {
				return
			}
			reported = i
			lastReport = time.Now()
			tr.deadline = time.Now().Add(ttl * 9 / 10)
		}
	}
	tr.next = end
	for try := 0; try < 5 && ctx.Err() == nil; try++ {
		if s.checkpoint(ctx, tr, true) || time.Now().After(tr.deadline) {
			return
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// taskUsers loads the users of a task's id range and keeps those its filter
// selects. There must be at least as many as the task counts (generation
// verified them; bills are never deleted, though new ones may have come):
// fewer means a read came back short, and the load is refused rather than
// a user left out.
func (s *sched) taskUsers(ctx context.Context, zone string, g fsm.Grant) ([]uint64, error) {
	users, err := s.n.loadDue(ctx, zone, g.Task.Shard, g.Cycle, g.Task.Lo, g.Task.Hi, s.cfg.PageUsers)
	if err != nil {
		return nil, err
	}
	if g.Task.Filter != fsm.FilterAll {
		gray := fsm.Gray{Users: g.Whitelist}
		users = slices.DeleteFunc(users, func(u uint64) bool { return gray.Whitelisted(u) != (g.Task.Filter == fsm.FilterGray) })
	}
	if int64(len(users)) < g.Task.Users {
		return nil, errMismatch{fmt.Sprintf("task %d: loaded %d users of [%d,%d], the task counts %d", g.Task.ID, len(users), g.Task.Lo, g.Task.Hi, g.Task.Users)}
	}
	return users, nil
}

// checkpoint reports the task's progress (or its completion) to the
// scheduler leader. It returns false when the worker must stop: the lease
// is fenced, or, for a completion, it was not accepted.
func (s *sched) checkpoint(ctx context.Context, tr *taskRun, complete bool) bool {
	addr, err := s.n.metaLeaderAddr()
	if err != nil {
		return !complete
	}
	t := tr.g.Task
	req := reportRequest{Complete: complete, Job: tr.g.Job, Cmd: fsm.SchedCmd{Run: tr.g.Run, Task: t.ID, Lease: t.Lease, Term: t.Term,
		Next: tr.next, Done: min(tr.done, t.Users), Skipped: tr.skipped, Failures: tr.failures},
		Calls: tr.calls, Failed: tr.failed, SentMs: tr.sent.UnixMilli(), InFlight: s.cfg.Slots - s.freeSlots()}
	if tr.calls > 0 {
		req.RTTUs = (tr.rttSum / time.Duration(tr.calls)).Microseconds()
	}
	var res fsm.SchedResult
	if err := s.n.postJSON(ctx, addr, "/v1/internal/sched/report", req, &res); err != nil {
		s.n.log.Debug("report", "task", t.ID, "complete", complete, "err", err)
		return !complete
	}
	tr.skipped, tr.failures, tr.calls, tr.failed, tr.rttSum = 0, 0, 0, 0, 0
	if res.Fenced {
		s.n.log.Info("task lease fenced; stopping", "task", t.ID, "lease", t.Lease)
		return false
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// effectsRequest is the body of POST /v1/internal/sched/effects.
type effectsRequest struct {
	// Group is the group the task's shard is routed to: a zone, or a
	// failover store hosted by the serving node's zone ("": its own zone).
	Group string   `json:"group,omitempty"`
	Job   string   `json:"job"`
	Cycle uint32   `json:"cycle"`
	Users []uint64 `json:"users"`
}

// effectsReply says, per user in order, how the effect went: "ok",
// "replay" (done before), "not_due" (no bill, or nothing to debit), or
// "failed"; Applied is how many users from the start are settled (every
// reply up to the first failure). RTTUs and Calls are the downstream calls
// made (the bank, for autodebit).
type effectsReply struct {
	Results []string `json:"results"`
	Applied int      `json:"applied"`
	Calls   int      `json:"calls"`
	Failed  int      `json:"failed"`
	RTTUs   int64    `json:"rtt_us"` // mean latency of the calls, microseconds
}

// applyEffects sends a batch of users to the zone leader and returns how
// many of them, from the start, are settled.
func (s *sched) applyEffects(ctx context.Context, zone string, tr *taskRun, users []uint64) (int, error) {
	addr, err := s.n.zoneLeaderHTTP(ctx, zone)
	if err != nil {
		return 0, err
	}
	if addr == "" {
		addr = s.n.cfg.httpAdvertise()
	}
	if tr.calls == 0 {
		tr.sent = clock.Now()
	}
	start := time.Now()
	var rep effectsReply
	err = s.n.postJSON(ctx, addr, "/v1/internal/sched/effects", effectsRequest{Group: zone, Job: tr.g.Job, Cycle: tr.g.Cycle, Users: users}, &rep)
	if err != nil {
		tr.calls++
		tr.failed++
		tr.rttSum += time.Since(start)
		return 0, err
	}
	if rep.Calls == 0 {
		// Notifications: one log entry per batch, whose latency grows with
		// the batch; the limiter sees each user as a call of the batch's
		// latency per user, so batch sizes do not read as congestion.
		n := max(1, len(users))
		rep.Calls, rep.RTTUs = n, (time.Since(start) / time.Duration(n)).Microseconds()
	}
	tr.calls += rep.Calls
	tr.failed += rep.Failed
	tr.rttSum += time.Duration(rep.RTTUs) * time.Microsecond * time.Duration(rep.Calls)
	for _, r := range rep.Results[:rep.Applied] {
		tr.done++
		if r == "not_due" {
			tr.skipped++
		}
	}
	s.m.users.WithLabelValues(tr.g.Job).Add(float64(rep.Applied))
	if rep.Applied < len(users) {
		return rep.Applied, fmt.Errorf("%d of %d effects failed", len(users)-rep.Applied, len(users))
	}
	return rep.Applied, nil
}

// handleInternalEffects applies a batch of scheduler effects on this node,
// the leader of its zone: statements and reminders as one log entry of
// CmdNotify commands, auto-debits one user at a time through the bank.
func (n *Node) handleInternalEffects(w http.ResponseWriter, r *http.Request) {
	var req effectsRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if len(req.Users) == 0 || len(req.Users) > 10_000 {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "want 1 to 10000 users"))
		return
	}
	if aerr := n.checkEffects(r.Context(), req); aerr != nil {
		writeError(w, aerr)
		return
	}
	h, aerr := n.leadGroup(r.Context(), req.Group)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var rep effectsReply
	var err error
	switch req.Job {
	case fsm.JobStatement, fsm.JobReminder:
		rep, err = n.notifyEffects(r.Context(), h, req)
	case fsm.JobAutodebit:
		rep = n.debitEffects(r.Context(), h, req)
	default:
		writeError(w, api.Errorf(api.CodeInvalidArgument, "unknown job %q", req.Job))
		return
	}
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	for _, res := range rep.Results {
		n.sched.m.effects.WithLabelValues(req.Job, res).Inc()
	}
	writeJSON(w, http.StatusOK, rep)
}

// checkEffects refuses an effects request a worker of the scheduler would
// not send: every user must lie in a task of a running run of the job and
// cycle that is leased now (and that the task's gray filter selects), as
// this node's meta replica shows it. A lease just granted may not have
// reached the replica yet, so a request for a running run waits a little
// for its users to be covered. Who holds the lease cannot be checked here:
// only authentication of the caller closes that.
func (n *Node) checkEffects(ctx context.Context, req effectsRequest) *api.Error {
	if !n.clustered {
		return api.Errorf(api.CodeInvalidArgument, "a standalone zone runs no scheduler")
	}
	if _, err := api.ParseCycle(api.FormatCycle(req.Cycle)); err != nil {
		return err.(*api.Error)
	}
	deadline := time.Now().Add(time.Second)
	for {
		st := n.metaFSM.State()
		run := runningRun(st, req.Job, req.Cycle)
		if run == nil {
			return api.Errorf(api.CodeInvalidArgument, "no %s run of cycle %s is going on", req.Job, api.FormatCycle(req.Cycle))
		}
		u, ok := uncovered(run, req.Users)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return api.Errorf(api.CodeInvalidArgument, "user %d is in no leased task of run %d", u, run.ID)
		}
		select {
		case <-ctx.Done():
			return api.Errorf(api.CodeUnavailable, "%v", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runningRun is the running run of job and cycle in st, or nil.
func runningRun(st fsm.MetaState, job string, cycle uint32) *fsm.Run {
	if st.Sched == nil {
		return nil
	}
	for i := range st.Sched.Runs {
		if r := &st.Sched.Runs[i]; r.State == fsm.RunRunning && r.Job == job && r.Cycle == cycle {
			return r
		}
	}
	return nil
}

// uncovered returns the first user no leased task of run selects, and
// false; or true when every user is covered.
func uncovered(run *fsm.Run, users []uint64) (uint64, bool) {
	for _, u := range users {
		covered := false
		for _, t := range run.Tasks {
			if t.Lease == 0 || t.Shard != int(u%fsm.NumShards) || u < t.Lo || u > t.Hi {
				continue
			}
			if (t.Filter == fsm.FilterGray && !run.Gray.Whitelisted(u)) || (t.Filter == fsm.FilterNotGray && run.Gray.Whitelisted(u)) {
				continue
			}
			covered = true
			break
		}
		if !covered {
			return u, false
		}
	}
	return 0, true
}

// notifyEffects applies statements or reminders in one entry.
func (n *Node) notifyEffects(ctx context.Context, h *hosted, req effectsRequest) (effectsReply, error) {
	cmds := make([]fsm.Command, len(req.Users))
	for i, u := range req.Users {
		cmds[i] = fsm.Command{Type: fsm.CmdNotify, User: u, Key: req.Job, Cycle: req.Cycle}
	}
	res, err := n.applyGated(ctx, h, cmds...)
	if err != nil {
		return effectsReply{}, err
	}
	rep := effectsReply{Results: make([]string, len(res)), Applied: len(res)}
	for i, r := range res {
		switch {
		case r.Code == fsm.OK && r.Replay:
			rep.Results[i] = "replay"
		case r.Code == fsm.OK:
			rep.Results[i] = "ok"
		case r.Code == fsm.NotFound:
			rep.Results[i] = "not_due"
		default:
			rep.Results[i] = "failed"
			rep.Applied = min(rep.Applied, i)
		}
	}
	return rep, nil
}

// debitKey is the idempotency key of a user's auto-debit in a cycle, at the
// bank and for the repayment.
func debitKey(cycle uint32, user uint64) string {
	return fmt.Sprintf("autodebit-%s-%d", api.FormatCycle(cycle), user)
}

// debitEffects debits each user's outstanding amount through the bank and
// repays it under the key derived from (job, cycle, user); it stops at the
// first failure.
func (n *Node) debitEffects(ctx context.Context, h *hosted, req effectsRequest) effectsReply {
	var rep effectsReply
	var rtt time.Duration
	defer func() {
		if rep.Calls > 0 {
			rep.RTTUs = (rtt / time.Duration(rep.Calls)).Microseconds()
		}
	}()
	for _, u := range req.Users {
		key := debitKey(req.Cycle, u)
		if _, err := h.fsm.Repayment(u, key); err == nil {
			rep.Results = append(rep.Results, "replay")
			rep.Applied++
			continue
		}
		b, err := h.fsm.Bill(u, req.Cycle)
		if errors.Is(err, fsm.ErrNotFound) || (err == nil && b.Outstanding == 0) {
			rep.Results = append(rep.Results, "not_due")
			rep.Applied++
			continue
		}
		if err != nil {
			rep.Results = append(rep.Results, "failed")
			return rep
		}
		start := time.Now()
		amount, err := n.sched.cfg.Bank.Debit(ctx, key, u, b.Outstanding)
		rtt += time.Since(start)
		rep.Calls++
		if err != nil {
			rep.Failed++
			rep.Results = append(rep.Results, "failed")
			return rep
		}
		res, err := n.applyGated(ctx, h, fsm.Command{Type: fsm.CmdRepay, User: u, Key: key, Amount: amount, Cycle: req.Cycle})
		if err != nil {
			rep.Results = append(rep.Results, "failed")
			return rep
		}
		switch res[0].Code {
		case fsm.OK:
			rep.Results = append(rep.Results, "ok")
		case fsm.Overpayment: // paid meanwhile; the bank's debit is for reconciliation
			rep.Results = append(rep.Results, "not_due")
		default:
			rep.Results = append(rep.Results, "failed")
			return rep
		}
		rep.Applied++
	}
	return rep
}
