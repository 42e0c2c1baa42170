package server

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/scheduler"
)

// generate starts the generation (layer 2) of the ranges not generated yet,
// at most Generators at once, each in a goroutine of its own so that
// generation overlaps the execution of tasks already generated. A range
// whose last attempt failed waits a backoff that grows with its attempts.
func (s *sched) generate(st fsm.MetaState) {
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
			s.n.wg.Add(1)
			go func() {
				defer s.n.wg.Done()
				defer s.releaseGen(genKey{run.ID, shard})
				s.generateRange(st, run, shard)
			}()
		}
	}
}

// claimGen marks a range as being generated, if a generator is free and its
// backoff has passed.
func (s *sched) claimGen(k genKey, attempts int, now time.Time) bool {
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

func (s *sched) releaseGen(k genKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.genBusy, k)
}

// generateRange loads the due users of one shard from its zone, checks the
// list against the zone's own count, cuts it into tasks and commits them. A
// list that does not check out is recorded as a failed attempt, and the
// range is tried again.
func (s *sched) generateRange(st fsm.MetaState, run fsm.Run, shard int) {
	rt := st.Shards[shard]
	if rt.Target != "" {
		return // moving: generate once it has landed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	users, err := s.n.loadDue(ctx, rt.Zone, shard, run.Cycle, 0, math.MaxUint64, s.cfg.PageUsers)
	if err != nil {
		outcome := "error"
		if isMismatch(err) {
			outcome = "mismatch"
		}
		s.m.gen.WithLabelValues(outcome).Inc()
		s.n.log.Debug("generation attempt failed", "run", run.ID, "shard", shard, "err", err)
		s.apply(fsm.MetaSchedGenFailed, fsm.SchedCmd{Run: run.ID, Shard: shard, Error: err.Error()})
		return
	}
	tasks := s.slice(run, users, s.pendingEstimate(run, len(users)))
	res, err := s.apply(fsm.MetaSchedGenerated, fsm.SchedCmd{Run: run.ID, Shard: shard, Count: int64(len(users)), Tasks: tasks})
	if err != nil || res.Err != "" {
		s.m.gen.WithLabelValues("error").Inc()
		s.n.log.Debug("generation commit failed", "run", run.ID, "shard", shard, "err", err, "refused", res.Err)
		return
	}
	s.m.gen.WithLabelValues("ok").Inc()
}

// pendingEstimate is the run's users not done yet, this range's included,
// and the ranges not generated yet estimated at this range's size: what
// the slicer divides among the slots.
func (s *sched) pendingEstimate(run fsm.Run, rangeUsers int) int64 {
	left := 0
	for _, rg := range run.Ranges {
		if !rg.Generated {
			left++
		}
	}
	return run.UsersTotal - run.UsersDone + int64(left*rangeUsers)
}

// slice cuts a range's due users into tasks of the size the smart slicer
// gives for the cluster's online slots and the pending work. With a gray
// release, the whitelisted users and the others go into separate tasks.
func (s *sched) slice(run fsm.Run, users []uint64, pending int64) []fsm.TaskSpec {
	sl, err := scheduler.NewSmartSlicer(s.cfg.Slicing)
	if err != nil {
		panic(fmt.Sprintf("server: slicer config: %v", err))
	}
	slots := s.onlineSlots()
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
// zone's leader and checks what it got: ids in order and in the shard, every
// page answered against the same count and, for the whole shard, as many
// users as that count.
func (n *Node) loadDue(ctx context.Context, zone string, shard int, cycle uint32, from, hi uint64, page int) ([]uint64, error) {
	var users []uint64
	count := int64(-1)
	for {
		p, err := n.duePage(ctx, zone, shard, cycle, from, hi, page)
		if err != nil {
			return nil, err
		}
		if count >= 0 && p.Count != count {
			return nil, errMismatch{fmt.Sprintf("shard %d: the zone's count moved from %d to %d between pages", shard, count, p.Count)}
		}
		count = p.Count
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
	if from == 0 && hi == math.MaxUint64 && int64(len(users)) != count {
		return nil, errMismatch{fmt.Sprintf("shard %d: loaded %d due users, the zone counts %d", shard, len(users), count)}
	}
	return users, nil
}

// duePageReply is the body of GET /v1/internal/sched/due.
type duePageReply struct {
	Users []uint64 `json:"users"`
	Count int64    `json:"count"`
}

// duePage reads one page of due users from zone's leader.
func (n *Node) duePage(ctx context.Context, zone string, shard int, cycle uint32, from, hi uint64, limit int) (duePageReply, error) {
	addr, err := n.zoneLeaderHTTP(ctx, zone)
	if err != nil {
		return duePageReply{}, err
	}
	if addr == "" {
		addr = n.cfg.httpAdvertise()
	}
	q := url.Values{"group": {zone}, "shard": {strconv.Itoa(shard)}, "cycle": {api.FormatCycle(cycle)},
		"from": {strconv.FormatUint(from, 10)}, "hi": {strconv.FormatUint(hi, 10)}, "limit": {strconv.Itoa(limit)}}
	var out duePageReply
	err = n.getJSONFrom(ctx, addr, "/v1/internal/sched/due?"+q.Encode(), &out)
	return out, err
}

// handleInternalDue serves a page of a shard's due users from this node,
// which must lead the group that owns the shard (?group=, default its own
// zone), after the linearizable read protocol: the list and the count come
// from one read transaction. A group that does not serve the shard now
// answers unavailable, never an empty list: generation would take that for
// a shard without due users and leave them out.
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
	h, aerr := n.leadGroup(r.Context(), q.Get("group"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if owned, epoch := h.fsm.Owns(uint64(shard)); !owned {
		writeError(w, api.Errorf(api.CodeUnavailable, "group %s does not serve shard %d now (epoch %d); retry", h.zone, shard, epoch))
		return
	}
	users, count, err := h.fsm.DuePage(shard, cycle, from, hi, limit)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if inject.On(inject.FlakyDue) && len(users) > 0 && rand.IntN(3) == 0 {
		users = users[:len(users)-1] // a page cut short: generation must notice
	}
	writeJSON(w, http.StatusOK, duePageReply{Users: users, Count: count})
}

// leadGroup returns this node's replica of group (a failover store it
// hosts; "": its own zone) if this node leads it, holds its lease, and has
// caught up (a linearizable read barrier).
func (n *Node) leadGroup(ctx context.Context, group string) (*hosted, *api.Error) {
	h := n.ownZone()
	if group != "" {
		h = n.hostedZone(group)
	}
	if h == nil || !h.voter || !h.rep.IsLeader() || !h.isReady() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s does not lead group %q; retry", n.cfg.NodeID, group)
	}
	if !n.leaseValid(h) {
		return nil, api.Errorf(api.CodeLeaseExpired, "zone %s holds no ownership lease; retry", h.zone)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ReadTimeout)
	defer cancel()
	if err := h.rep.Linearizable(ctx, n.cfg.ReadTimeout); err != nil {
		return nil, apiError(err)
	}
	return h, nil
}
