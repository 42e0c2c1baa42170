package run

import (
	"context"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/scheduler"
)

// The lease and report requests of workers, on the meta leader.

// Lease grants up to req.Max tasks of req.Zone to req.Worker, downstream by
// downstream, each within its concurrency limit: leased tasks never exceed
// min(window, adaptive). Errors are *api.Error or the meta apply's; the
// grants made before an error are returned with it.
//
// Lease decisions for several workers commit at once: each reserves its
// budget under leaseMu (reserve), counted against the limit with the
// leased tasks until its command has applied, when the meta state counts
// what it granted; so the limit holds while the meta group commits the
// commands of several workers together rather than one after another.
func (s *Scheduler) Lease(ctx context.Context, req LeaseRequest) ([]fsm.Grant, error) {
	term := s.leaderTerm()
	if term == 0 || !s.h.IsMetaLeader() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s is not the scheduler leader", s.h.NodeID())
	}
	var out []fsm.Grant
	now := s.h.Now().UTC()
	for _, d := range downstreams {
		st, limit, budget, ok := s.reserve(d, req, len(out), now)
		if !ok {
			break
		}
		if budget <= 0 {
			continue
		}
		var jobs []string
		for _, j := range []string{fsm.JobStatement, fsm.JobReminder, fsm.JobAutodebit} {
			if downstream(j) == d {
				jobs = append(jobs, j)
			}
		}
		res, err := func() (fsm.MetaResult, error) {
			defer s.unreserve(d, budget) // whatever happens, even a panic the HTTP server recovers
			return s.h.MetaApply(ctx, fsm.MetaCmd{Type: fsm.MetaSchedLease, Sched: &fsm.SchedCmd{
				Worker: req.Worker, Zone: req.Zone, Max: budget, TTLMs: s.cfg.LeaseTTL.Milliseconds(), Term: term, Jobs: jobs,
				Take: s.share(st, limit)}})
		}()
		if err != nil {
			return out, err
		}
		if res.Err != "" {
			return out, api.Errorf(api.CodeUnavailable, "lease refused: %s", res.Err)
		}
		out = append(out, res.Sched.Grants...)
	}
	return out, nil
}

// reserve decides, under leaseMu, how many tasks of downstream d a lease
// request may get now, given got already: up to the limit in force less the
// leased tasks and the budgets of lease commands not applied yet, which it
// then counts as its own until unreserve. ok is false when the request is
// done: nothing is pending for its zone, or it has all it asked for.
func (s *Scheduler) reserve(d string, req LeaseRequest, got int, now time.Time) (st fsm.MetaState, limit, budget int, ok bool) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	st = s.h.MetaState()
	if st.Sched == nil || got >= req.Max || !pendingFor(st, req.Zone) {
		return st, 0, 0, false
	}
	limit = s.limiter(st, d).limit(now)
	budget = max(0, min(req.Max-got, limit-leased(st.Sched, d)-s.reserved[d]))
	s.reserved[d] += budget
	return st, limit, budget, true
}

// unreserve ends a reservation once its lease command has applied (the meta
// state counts its grants) or failed.
func (s *Scheduler) unreserve(d string, budget int) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	s.reserved[d] -= budget
}

// share is the share of a task one lease should process now: the smart
// slicer's size for the pending users of every running run and the slots
// that can work at once, the slots online capped by the downstream's limit
// in force (a cluster of 36 slots under a limit of 2 tasks works as 2
// slots, and cutting its work for 36 would only multiply the tasks and
// their overhead). As the pending work shrinks so do the shares, so the
// end of a run is many small leases over every slot rather than a few
// large tasks on a few.
func (s *Scheduler) share(st fsm.MetaState, limit int) int64 {
	var pending int64
	leasedAll := 0
	for _, r := range st.Sched.Runs {
		if r.State != fsm.RunRunning {
			continue
		}
		for _, t := range r.Tasks {
			if t.Lease == 0 {
				pending += t.Users
			} else {
				leasedAll++
			}
		}
	}
	if pending == 0 {
		return 0
	}
	sl, err := scheduler.NewSmartSlicer(s.cfg.Slicing)
	if err != nil {
		panic(fmt.Sprintf("run: slicer config: %v", err))
	}
	slots := max(1, min(s.onlineSlots(), limit))
	return sl.Size(scheduler.View{Pending: pending, OnlineSlots: slots, FreeSlots: max(1, slots-leasedAll)})
}

// Report commits a worker's checkpoint or completion of a lease, and feeds
// what its calls saw to the downstream's adaptive limit. Errors are
// *api.Error or the meta apply's.
func (s *Scheduler) Report(ctx context.Context, req ReportRequest) (*fsm.SchedResult, error) {
	if s.leaderTerm() == 0 || !s.h.IsMetaLeader() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s is not the scheduler leader", s.h.NodeID())
	}
	typ, kind := fsm.MetaSchedRenew, "renew"
	if req.Complete {
		typ, kind = fsm.MetaSchedComplete, "complete"
	}
	s.observe(req)
	res, err := s.h.MetaApply(ctx, fsm.MetaCmd{Type: typ, Sched: &req.Cmd})
	switch {
	case err != nil:
		return nil, err
	case res.Err != "":
		s.m.reports.WithLabelValues(kind, "refused").Inc()
		return nil, api.Errorf(api.CodeInvalidArgument, "%s", res.Err)
	case res.Sched.Fenced:
		s.m.reports.WithLabelValues(kind, "fenced").Inc()
	default:
		s.m.reports.WithLabelValues(kind, "ok").Inc()
	}
	return res.Sched, nil
}

// observe feeds a report's calls to its downstream's adaptive limit.
func (s *Scheduler) observe(req ReportRequest) {
	if req.Calls <= 0 {
		return
	}
	st := s.h.MetaState()
	lim := s.limiter(st, downstream(req.Job))
	// In flight is the downstream's, not the worker's: the leased tasks.
	req.InFlight = max(1, leased(st.Sched, downstream(req.Job)))
	sent := time.UnixMilli(req.SentMs)
	rtt := time.Duration(req.RTTUs) * time.Microsecond
	if ok := req.Calls - req.Failed; ok > 0 {
		lim.observe(scheduler.Sample{Sent: sent, RTT: rtt, InFlight: req.InFlight, Count: ok})
	}
	if req.Failed > 0 {
		lim.observe(scheduler.Sample{Sent: sent, RTT: rtt, InFlight: req.InFlight, Failed: true, Count: req.Failed})
	}
}
