package run

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/internal/inject"
)

// What the node's scheduler endpoints serve (server/jobs_endpoint.go,
// server/sched_endpoint.go): the runs as the meta state keeps them, and a
// zone leader's page of due users.

// CheckJob refuses a run of job that this node cannot create: an unknown
// job, or an auto-debit run on a node without a bank.
func (s *Scheduler) CheckJob(job string) *api.Error {
	if job != fsm.JobStatement && job != fsm.JobReminder && job != fsm.JobAutodebit {
		return api.Errorf(api.CodeInvalidArgument, "unknown job %q: want statement, reminder or autodebit", job)
	}
	if job == fsm.JobAutodebit && s.cfg.Bank == nil {
		// A repayment is recorded for every debit the bank makes: with no
		// bank there is nothing to record.
		return api.Errorf(api.CodeInvalidArgument, "no bank is configured on this node: an auto-debit run needs one (rzone server --bank; rzone dev uses a simulated bank)")
	}
	return nil
}

// Runs renders the runs the meta group keeps, newest first.
func (s *Scheduler) Runs() api.RunList {
	out := api.RunList{Runs: []api.Run{}}
	if st := s.h.MetaState(); st.Sched != nil {
		for i := len(st.Sched.Runs) - 1; i >= 0; i-- {
			out.Runs = append(out.Runs, s.RunView(st.Sched.Runs[i]))
		}
	}
	return out
}

// FindRun returns run id as the meta state keeps it.
func (s *Scheduler) FindRun(id uint64) (fsm.Run, bool) {
	st := s.h.MetaState()
	if st.Sched == nil {
		return fsm.Run{}, false
	}
	i := slices.IndexFunc(st.Sched.Runs, func(r fsm.Run) bool { return r.ID == id })
	if i < 0 {
		return fsm.Run{}, false
	}
	return st.Sched.Runs[i], true
}

// RunView renders a run's progress.
func (s *Scheduler) RunView(r fsm.Run) api.Run {
	now := clock.Now().UnixMilli()
	v := api.Run{ID: r.ID, Job: r.Job, Cycle: api.FormatCycle(r.Cycle), State: r.State, CreatedAt: api.FormatTime(r.Created),
		Ranges: len(r.Ranges), TasksDone: r.TasksDone, TasksTotal: r.TasksTotal, UsersDone: r.UsersDone, UsersTotal: r.UsersTotal,
		Skipped: r.Skipped, Failures: r.Failures, GenFailures: r.GenFailures, Expired: r.Expired, Fenced: r.Fenced,
		UsersPerSecond: usersPerSecond(&r, now), Gray: len(r.Gray.Users) > 0, GrayActive: r.State == fsm.RunRunning && r.Gray.Active(now)}
	if r.Finished != 0 {
		v.FinishedAt = api.FormatTime(r.Finished)
	}
	for _, rg := range r.Ranges {
		if rg.Generated {
			v.Generated++
		}
	}
	// A summary carries no tasks; the state's run does.
	if full, ok := s.FindRun(r.ID); ok {
		for _, t := range full.Tasks {
			v.TasksOpen++
			if t.Lease != 0 {
				v.TasksLeased++
			}
		}
	}
	if r.State == fsm.RunRunning {
		v.Limit = s.CurrentLimit(r.Job)
	}
	return v
}

// usersPerSecond returns users per second over the run's life so far.
func usersPerSecond(r *fsm.Run, now int64) float64 {
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

// ReadDue reads the page q asks for of a shard's due users from f, the state of group
// (read by its leader after a linearizable read barrier). With q.Count the
// list and the count come from one read transaction of the committed state
// (fsm.DuePage); without, the list alone is read from the applied state
// (fsm.DueRange: no walk of every bill, no state-file commit) and the
// count is NoCount. A group that does not serve the shard now answers
// unavailable (an *api.Error), never an empty list: generation would take
// that for a shard without due users and leave them out.
func ReadDue(f *fsm.FSM, group string, q DueQuery) (DuePage, error) {
	if owned, epoch := f.Owns(uint64(q.Shard)); !owned {
		return DuePage{}, api.Errorf(api.CodeUnavailable, "group %s does not serve shard %d now (epoch %d); retry", group, q.Shard, epoch)
	}
	var users []uint64
	count := int64(NoCount)
	var err error
	if q.Count {
		users, count, err = f.DuePage(q.Shard, q.Cycle, q.From, q.Hi, q.Limit)
	} else {
		users, err = f.DueRange(q.Shard, q.Cycle, q.From, q.Hi, q.Limit)
	}
	if err != nil {
		return DuePage{}, err
	}
	if inject.On(inject.FlakyDue) && len(users) > 0 && rand.IntN(3) == 0 {
		users = users[:len(users)-1] // a page cut short: generation must notice
	}
	return DuePage{Users: users, Count: count}, nil
}
