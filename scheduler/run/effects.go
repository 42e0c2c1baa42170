package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// The effects of tasks, on the leader of the zone group a task's shard is
// routed to (POST PathEffects).

// CheckEffects refuses an effects request a worker of the scheduler would
// not send: every user must lie in a task of a running run of the job and
// cycle that is leased now (and that the task's gray filter selects), as
// this node's meta replica shows it. A lease just granted may not have
// reached the replica yet, so a request for a running run waits a little
// for its users to be covered. Who holds the lease cannot be checked here:
// only authentication of the caller closes that.
func (s *Scheduler) CheckEffects(ctx context.Context, req EffectsRequest) *api.Error {
	if _, err := api.ParseCycle(api.FormatCycle(req.Cycle)); err != nil {
		return err.(*api.Error)
	}
	defer s.observePhase(phaseCheck, time.Now())
	deadline := time.Now().Add(time.Second)
	for {
		st := s.h.MetaState()
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

// Effects applies a batch of effects in g, a group this node leads:
// statements and reminders as one log entry of CmdNotify commands,
// auto-debits one user at a time through the bank. An unknown job is an
// *api.Error.
func (s *Scheduler) Effects(ctx context.Context, g Group, req EffectsRequest) (EffectsReply, error) {
	defer s.observePhase(phaseApply, time.Now())
	var rep EffectsReply
	var err error
	switch req.Job {
	case fsm.JobStatement, fsm.JobReminder:
		rep, err = notifyEffects(ctx, g, req)
	case fsm.JobAutodebit:
		rep = s.debitEffects(ctx, g, req)
	default:
		return EffectsReply{}, api.Errorf(api.CodeInvalidArgument, "unknown job %q", req.Job)
	}
	if err != nil {
		return EffectsReply{}, err
	}
	for _, res := range rep.Results {
		s.m.effects.WithLabelValues(req.Job, res).Inc()
	}
	return rep, nil
}

// notifyEffects applies statements or reminders in one entry.
func notifyEffects(ctx context.Context, g Group, req EffectsRequest) (EffectsReply, error) {
	cmds := make([]fsm.Command, len(req.Users))
	for i, u := range req.Users {
		cmds[i] = fsm.Command{Type: fsm.CmdNotify, User: u, Key: req.Job, Cycle: req.Cycle}
	}
	res, err := g.ApplyGated(ctx, cmds...)
	if err != nil {
		return EffectsReply{}, err
	}
	rep := EffectsReply{Results: make([]string, len(res)), Applied: len(res)}
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

// DebitKey is the idempotency key of a user's auto-debit in a cycle, at the
// bank and for the repayment.
func DebitKey(cycle uint32, user uint64) string {
	return fmt.Sprintf("autodebit-%s-%d", api.FormatCycle(cycle), user)
}

// debitEffects debits each user's outstanding amount through the bank and
// repays it under the key derived from (job, cycle, user); it stops at the
// first failure.
func (s *Scheduler) debitEffects(ctx context.Context, g Group, req EffectsRequest) EffectsReply {
	var rep EffectsReply
	var rtt time.Duration
	defer func() {
		if rep.Calls > 0 {
			rep.RTTUs = (rtt / time.Duration(rep.Calls)).Microseconds()
		}
	}()
	for _, u := range req.Users {
		key := DebitKey(req.Cycle, u)
		if _, err := g.Repayment(u, key); err == nil {
			rep.Results = append(rep.Results, "replay")
			rep.Applied++
			continue
		}
		b, err := g.Bill(u, req.Cycle)
		if errors.Is(err, fsm.ErrNotFound) || (err == nil && b.Outstanding == 0) {
			rep.Results = append(rep.Results, "not_due")
			rep.Applied++
			continue
		}
		if err != nil {
			rep.Results = append(rep.Results, "failed")
			return rep
		}
		if s.cfg.Bank == nil {
			s.noBank.Do(func() {
				s.h.Logger().Error("an auto-debit task reached a node with no bank configured (rzone server --bank); its users are not debited and the task fails", "cycle", req.Cycle)
			})
			rep.Failed++
			rep.Results = append(rep.Results, "failed")
			return rep
		}
		start := time.Now()
		amount, err := s.cfg.Bank.Debit(ctx, key, u, b.Outstanding)
		rtt += time.Since(start)
		rep.Calls++
		if err != nil {
			rep.Failed++
			rep.Results = append(rep.Results, "failed")
			return rep
		}
		res, err := g.ApplyGated(ctx, fsm.Command{Type: fsm.CmdRepay, User: u, Key: key, Amount: amount, Cycle: req.Cycle})
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
