package run

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rzonedb/rzone/fsm"
)

// work is one round of this node's worker: while it has free slots and a
// run is going on, it asks the scheduler leader for tasks of its own zone
// and runs each in a goroutine.
func (s *Scheduler) work() {
	free := s.freeSlots()
	st := s.h.MetaState()
	if free <= 0 || st.Drained(s.h.NodeID()) || st.Removed(s.h.NodeID()) || !pendingFor(st, s.h.Zone()) {
		return // a drained node takes no task (the meta group refuses it one too)
	}
	addr, err := s.h.MetaLeaderAddr()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.h.ApplyTimeout())
	defer cancel()
	var reply struct {
		Grants []fsm.Grant `json:"grants"`
	}
	req := LeaseRequest{Worker: s.h.NodeID(), Zone: s.h.Zone(), Max: free}
	start := time.Now()
	err = s.h.PostJSON(ctx, addr, PathLease, req, &reply)
	if len(reply.Grants) > 0 {
		s.observePhase(phaseLease, start)
	} else {
		s.observePhase(phaseLeaseNone, start)
	}
	if err != nil {
		s.h.Logger().Debug("lease tasks", "err", err)
		return
	}
	for _, g := range reply.Grants {
		s.take()
		s.goTracked(func() {
			defer s.untake()
			defer s.observePhase(phaseTask, start)
			s.runTask(g)
		})
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

func (s *Scheduler) freeSlots() int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.cfg.Slots - s.running
}

func (s *Scheduler) take() {
	s.wmu.Lock()
	s.running++
	s.m.tasksRun.Set(float64(s.running))
	s.wmu.Unlock()
}

// untake frees a slot and wakes the worker's loop to fill it.
func (s *Scheduler) untake() {
	s.wmu.Lock()
	s.running--
	s.m.tasksRun.Set(float64(s.running))
	s.wmu.Unlock()
	select {
	case s.freed <- struct{}{}:
	default: // a wake-up is pending already
	}
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
func (s *Scheduler) runTask(g fsm.Grant) {
	tr := &taskRun{g: g, next: g.Task.Lo}
	ttl := time.Duration(g.Task.TTLMs) * time.Millisecond
	tr.deadline = time.Now().Add(ttl * 9 / 10)
	lastReport := time.Now()
	zone, _ := s.h.MetaState().Route(uint64(g.Task.Shard))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.h.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	loadStart := time.Now()
	users, err := s.taskUsers(ctx, zone, g)
	for try := 1; err != nil && try < 5 && ctx.Err() == nil; try++ {
		tr.failures++
		sleepCtx(ctx, time.Duration(try)*100*time.Millisecond)
		users, err = s.taskUsers(ctx, zone, g)
	}
	if err != nil {
		s.h.Logger().Debug("load task users", "task", g.Task.ID, "err", err)
		return // the lease runs out and the task is handed out again
	}
	s.observePhase(phaseLoad, loadStart)
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
			s.h.Logger().Debug("effects", "task", g.Task.ID, "err", err)
			sleepCtx(ctx, 100*time.Millisecond)
		}
		if time.Since(lastReport) >= ttl/3 && i < len(users) {
			if i == reported {
				// No progress for a third of the lease: stop renewing, so the
				// lease runs out and another worker takes the task, rather
				// than hold a slot under the limit forever.
				s.h.Logger().Info("task stalled; letting its lease run out", "task", g.Task.ID, "err", lastErr)
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
func (s *Scheduler) taskUsers(ctx context.Context, zone string, g fsm.Grant) ([]uint64, error) {
	users, err := s.loadDue(ctx, zone, g.Task.Shard, g.Cycle, g.Task.Lo, g.Task.Hi, s.cfg.PageUsers)
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
func (s *Scheduler) checkpoint(ctx context.Context, tr *taskRun, complete bool) bool {
	addr, err := s.h.MetaLeaderAddr()
	if err != nil {
		return !complete
	}
	t := tr.g.Task
	req := ReportRequest{Complete: complete, Job: tr.g.Job, Cmd: fsm.SchedCmd{Run: tr.g.Run, Task: t.ID, Lease: t.Lease, Term: t.Term,
		Next: tr.next, Done: min(tr.done, t.Users), Skipped: tr.skipped, Failures: tr.failures},
		Calls: tr.calls, Failed: tr.failed, SentMs: tr.sent.UnixMilli(), InFlight: s.cfg.Slots - s.freeSlots()}
	if tr.calls > 0 {
		req.RTTUs = (tr.rttSum / time.Duration(tr.calls)).Microseconds()
	}
	var res fsm.SchedResult
	start := time.Now()
	err = s.h.PostJSON(ctx, addr, PathReport, req, &res)
	s.observePhase(phaseReport, start)
	if err != nil {
		s.h.Logger().Debug("report", "task", t.ID, "complete", complete, "err", err)
		return !complete
	}
	tr.skipped, tr.failures, tr.calls, tr.failed, tr.rttSum = 0, 0, 0, 0, 0
	if res.Fenced {
		s.h.Logger().Info("task lease fenced; stopping", "task", t.ID, "lease", t.Lease)
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

// applyEffects sends a batch of users to the zone leader and returns how
// many of them, from the start, are settled.
func (s *Scheduler) applyEffects(ctx context.Context, zone string, tr *taskRun, users []uint64) (int, error) {
	addr, err := s.h.ZoneLeaderAddr(ctx, zone)
	if err != nil {
		return 0, err
	}
	if tr.calls == 0 {
		tr.sent = s.h.Now()
	}
	start := time.Now()
	var rep EffectsReply
	err = s.h.PostJSON(ctx, addr, PathEffects, EffectsRequest{Group: zone, Job: tr.g.Job, Cycle: tr.g.Cycle, Users: users}, &rep)
	s.observePhase(phaseEffects, start)
	if err != nil {
		tr.calls++
		tr.failed++
		tr.rttSum += time.Since(start)
		return 0, err
	}
	if rep.Calls == 0 {
		// Notifications: one log entry per batch, and the limiter sees the
		// batch as one call of its latency. An entry's latency is mostly
		// its commit's, whatever its size, so a latency per user would read
		// every smaller batch (a task's last) as congestion; and a failed
		// batch counts as one failed call of a few, not of hundreds.
		rep.Calls, rep.RTTUs = 1, time.Since(start).Microseconds()
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
