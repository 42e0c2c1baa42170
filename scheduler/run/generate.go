package run

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/scheduler"
)

// generate starts the generation (layer 2) of the ranges not generated yet,
// at most Generators at once, each in a goroutine of its own so that
// generation overlaps the execution of tasks already generated. A range
// whose last attempt failed waits a backoff that grows with its attempts.
func (s *Scheduler) generate(st fsm.MetaState) {
	now := time.Now()
	for _, r := range st.Sched.Runs {
		if r.State != fsm.RunRunning {
			continue
		}
		for _, rg := range r.Ranges {
			if rg.Generated || !s.claimGen(genKey{r.ID, rg.Shard}, rg.Attempts, now) {
				continue
			}
			run, shard := r, rg.Shard
			s.goTracked(func() {
				defer s.releaseGen(genKey{run.ID, shard})
				s.generateRange(st, run, shard)
			})
		}
	}
}

// claimGen marks a range as being generated, if a generator is free and its
// backoff has passed.
func (s *Scheduler) claimGen(k genKey, attempts int, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.genBusy[k] || len(s.genBusy) >= s.cfg.Generators || now.Before(s.genNext[k]) {
		return false
	}
	s.genBusy[k] = true
	if attempts > 0 {
		s.genNext[k] = now.Add(min(time.Duration(1<<min(attempts, 6))*100*time.Millisecond, 5*time.Second))
	}
	return true
}

func (s *Scheduler) releaseGen(k genKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.genBusy, k)
}

// generateRange loads the due users of one shard from its zone, checks the
// list against the zone's own count, cuts it into tasks and commits them. A
// list that does not check out is recorded as a failed attempt, and the
// range is tried again.
func (s *Scheduler) generateRange(st fsm.MetaState, run fsm.Run, shard int) {
	rt := st.Shards[shard]
	if rt.Target != "" {
		return // moving: generate once it has landed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	defer s.observePhase(phaseGenerate, time.Now())
	users, err := s.loadDue(ctx, rt.Zone, shard, run.Cycle, 0, math.MaxUint64, s.cfg.PageUsers)
	if err != nil {
		outcome := "error"
		if isMismatch(err) {
			outcome = "mismatch"
		}
		s.m.gen.WithLabelValues(outcome).Inc()
		s.h.Logger().Debug("generation attempt failed", "run", run.ID, "shard", shard, "err", err)
		s.apply(fsm.MetaSchedGenFailed, fsm.SchedCmd{Run: run.ID, Shard: shard, Error: err.Error()})
		return
	}
	limit := s.limiter(st, downstream(run.Job)).limit(s.h.Now().UTC())
	tasks := s.slice(run, users, s.pendingEstimate(run, len(users)), limit)
	res, err := s.apply(fsm.MetaSchedGenerated, fsm.SchedCmd{Run: run.ID, Shard: shard, Count: int64(len(users)), Tasks: tasks})
	if err != nil || res.Err != "" {
		s.m.gen.WithLabelValues("error").Inc()
		s.h.Logger().Debug("generation commit failed", "run", run.ID, "shard", shard, "err", err, "refused", res.Err)
		return
	}
	s.m.gen.WithLabelValues("ok").Inc()
}

// pendingEstimate is the run's users not done yet, this range's included,
// and the ranges not generated yet estimated at this range's size: what
// the slicer divides among the slots.
func (s *Scheduler) pendingEstimate(run fsm.Run, rangeUsers int) int64 {
	left := 0
	for _, rg := range run.Ranges {
		if !rg.Generated {
			left++
		}
	}
	return run.UsersTotal - run.UsersDone + int64(left*rangeUsers)
}

// slice cuts a range's due users into tasks of the size the smart slicer
// gives for the pending work and the slots that can work at once: the
// online slots capped by limit, the downstream's limit in force, as for a
// lease's share. Cutting for slots the limit keeps idle would only
// multiply the tasks and their lease, load and report; the end of a run is
// still spread over every slot, by the shares of the leases. With a gray
// release, the whitelisted users and the others go into separate tasks.
func (s *Scheduler) slice(run fsm.Run, users []uint64, pending int64, limit int) []fsm.TaskSpec {
	sl, err := scheduler.NewSmartSlicer(s.cfg.Slicing)
	if err != nil {
		panic(fmt.Sprintf("run: slicer config: %v", err))
	}
	slots := max(1, min(s.onlineSlots(), limit))
	size := max(1, sl.Size(scheduler.View{Pending: max(pending, int64(len(users))), OnlineSlots: slots, FreeSlots: slots}))
	if len(run.Gray.Users) == 0 {
		return chunk(users, size, fsm.FilterAll)
	}
	var gray, rest []uint64
	for _, u := range users {
		if run.Gray.Whitelisted(u) {
			gray = append(gray, u)
		} else {
			rest = append(rest, u)
		}
	}
	return append(chunk(gray, size, fsm.FilterGray), chunk(rest, size, fsm.FilterNotGray)...)
}

// chunk cuts sorted users into tasks of at most size users each.
func chunk(users []uint64, size int64, filter byte) []fsm.TaskSpec {
	var out []fsm.TaskSpec
	for i := 0; i < len(users); i += int(size) {
		part := users[i:min(len(users), i+int(size))]
		out = append(out, fsm.TaskSpec{Lo: part[0], Hi: part[len(part)-1], Users: int64(len(part)), Filter: filter})
	}
	return out
}

// errMismatch marks a loaded list that does not match the zone's count.
type errMismatch struct{ msg string }

func (e errMismatch) Error() string { return e.msg }

func isMismatch(err error) bool { _, ok := err.(errMismatch); return ok }

// loadDue pages through the due users of shard with ids in [from, hi] on
// zone's leader and checks what it got: ids in order, in the shard and in
// the range. A load of the whole shard (generation's: from 0, hi
// math.MaxUint64) asks each page for the zone's count of the shard's due
// users too, and checks every page answered against the same count and
// that it got as many users as that count. Any other load (a task's) asks
// for no count, which spares the zone leader a walk of all its bills and a
// state-file commit per page; its caller checks the users' number.
func (s *Scheduler) loadDue(ctx context.Context, zone string, shard int, cycle uint32, from, hi uint64, page int) ([]uint64, error) {
	whole := from == 0 && hi == math.MaxUint64
	var users []uint64
	count := int64(-1)
	for {
		p, err := s.duePage(ctx, DueQuery{Group: zone, Shard: shard, Cycle: cycle, From: from, Hi: hi, Limit: page, Count: whole})
		if err != nil {
			return nil, err
		}
		if whole {
			if p.Count < 0 {
				return nil, errMismatch{fmt.Sprintf("shard %d: the zone sent no count", shard)}
			}
			if count >= 0 && p.Count != count {
				return nil, errMismatch{fmt.Sprintf("shard %d: the zone's count moved from %d to %d between pages", shard, count, p.Count)}
			}
			count = p.Count
		}
		for _, u := range p.Users {
			if int(u%fsm.NumShards) != shard || u < from || u > hi || (len(users) > 0 && u <= users[len(users)-1]) {
				return nil, errMismatch{fmt.Sprintf("shard %d: user %d out of order or place", shard, u)}
			}
			users = append(users, u)
		}
		if len(p.Users) < page || len(p.Users) == 0 || p.Users[len(p.Users)-1] >= hi {
			break
		}
		from = p.Users[len(p.Users)-1] + 1
	}
	if whole && int64(len(users)) != count {
		return nil, errMismatch{fmt.Sprintf("shard %d: loaded %d due users, the zone counts %d", shard, len(users), count)}
	}
	return users, nil
}

// duePage reads one page of due users from the leader of q.Group.
func (s *Scheduler) duePage(ctx context.Context, q DueQuery) (DuePage, error) {
	addr, err := s.h.ZoneLeaderAddr(ctx, q.Group)
	if err != nil {
		return DuePage{}, err
	}
	var out DuePage
	err = s.h.GetJSON(ctx, addr, PathDue+"?"+q.Values().Encode(), &out)
	return out, err
}
