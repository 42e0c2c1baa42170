package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/rzonedb/rzone/scheduler"
)

// Event kinds of the pool simulation, in the order they run at equal times. Churn goes
// first: a machine that leaves at an instant does nothing at that instant (the first
// round of leases renews in step, and a departure on a renewal's instant would otherwise
// always find a fresh checkpoint).
const (
	plChurn = iota
	plComplete
	plRenew
	plWake
)

type plEvent struct {
	at      float64 // seconds from the start
	kind    uint8
	seq     uint64
	x       *exec
	version int
	churn   int
}

type machine struct {
	id     scheduler.WorkerID
	speed  float64
	slots  []*slot
	online bool
}

// exec is one lease being run by one slot. Users are processed one after another at
// rate per active second, after a fixed overhead; both carry the slice's jitter and the
// machine's speed.
type exec struct {
	lease    scheduler.LeaseID
	slot     *slot
	start    float64
	overhead float64 // active seconds before the first user
	rate     float64 // users per active second
	base     int64   // first user of the lease
	end      int64   // one past the last user, as last told by the dispatcher
	version  int     // bumped when end changes, to drop a stale completion event

	running   bool
	departed  bool
	fenced    bool  // its lease expired or a report of it was refused: whatever it did past its checkpoint does not count
	finished  bool  // cut back to its checkpoint at a renewal; waits to wake and free the slot
	processed int64 // users processed, once stopped
	commit    int64 // users from base that count as done: all on completion, the checkpoint on expiry
}

// poolRun simulates scenario B on a virtual clock, in events per slice and per renewal,
// never per user: a slice's users are processed at a constant rate between pauses, so
// progress at any time is a closed form.
type poolRun struct {
	m     *PoolModel
	seed  uint64
	d     *scheduler.Dispatcher
	noise *rand.Rand // per-slice jitter
	q     queue[plEvent]
	seq   uint64
	now   float64

	machines   []*machine
	byID       map[scheduler.WorkerID]*machine
	leaveOrder []int     // indices into machines, in the order they leave
	joinSpeeds []float64 // speeds of the machines that join, in order
	slotCount  int

	execs   []*exec
	byLease map[scheduler.LeaseID]*exec

	bins       []float64 // users committed per second, by processing time
	committed  int64
	wakeAt     float64
	drainStart float64
	makespan   float64
}

func newPoolRun(sc *Scenario, st *Strategy, seed uint64) (*poolRun, error) {
	m := sc.Pool
	var slicer scheduler.Slicer = scheduler.FixedSlicer{Users: st.SliceUsers}
	if st.Smart != nil {
		s, err := scheduler.NewSmartSlicer(scheduler.SmartConfig(*st.Smart))
		if err != nil {
			return nil, err
		}
		slicer = s
	}
	d, err := scheduler.New(scheduler.Config{LeaseTTL: m.LeaseTTL}, slicer, nil)
	if err != nil {
		return nil, err
	}
	d.AddWork(scheduler.Range{Start: 0, End: m.Users})
	r := &poolRun{
		m: m, seed: seed, d: d,
		noise:      rand.New(rand.NewPCG(seed, 0x511CE)),
		byID:       make(map[scheduler.WorkerID]*machine),
		byLease:    make(map[scheduler.LeaseID]*exec),
		wakeAt:     -1,
		drainStart: -1,
		makespan:   -1,
	}
	r.q.less = func(a, b *plEvent) bool {
		if a.at != b.at {
			return a.at < b.at
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.seq < b.seq
	}
	// The pool (speeds, who is slow, who leaves, who joins) depends on the seed only,
	// so every strategy of a seed runs on the same machines.
	setup := rand.New(rand.NewPCG(seed, 0xB0B))
	slow := make(map[int]bool)
	for _, i := range setup.Perm(m.Machines)[:int(math.Round(m.SlowShare*float64(m.Machines)))] {
		slow[i] = true
	}
	for i := range m.Machines {
		speed := math.Exp(m.SpeedSigma * setup.NormFloat64())
		if slow[i] {
			speed *= m.SlowSpeed
		}
		if err := r.addMachine(speed); err != nil {
			return nil, err
		}
	}
	r.leaveOrder = setup.Perm(m.Machines)
	for _, c := range m.Churn {
		for range c.Join {
			speed := math.Exp(m.SpeedSigma * setup.NormFloat64())
			if setup.Float64() < m.SlowShare {
				speed *= m.SlowSpeed
			}
			r.joinSpeeds = append(r.joinSpeeds, speed)
		}
	}
	for i, c := range m.Churn {
		r.push(plEvent{at: c.At.Seconds(), kind: plChurn, churn: i})
	}
	return r, nil
}

func (r *poolRun) push(e plEvent) {
	r.seq++
	e.seq = r.seq
	r.q.push(e)
}

func (r *poolRun) addMachine(speed float64) error {
	mc := &machine{id: scheduler.WorkerID(fmt.Sprintf("m%03d", len(r.machines))), speed: speed, online: true}
	for range r.m.Slots {
		rng := rand.New(rand.NewPCG(r.seed, 0x5107<<32|uint64(r.slotCount)))
		r.slotCount++
		mc.slots = append(mc.slots, newSlot(mc, rng, r.m.PauseRate, r.m.PauseMean.Seconds()))
	}
	r.machines = append(r.machines, mc)
	r.byID[mc.id] = mc
	return r.d.AddWorker(mc.id, r.m.Slots)
}

func (r *poolRun) at(t float64) time.Time { return epoch.Add(time.Duration(t * float64(time.Second))) }

// run simulates until every user is committed and every loser has stopped.
func (r *poolRun) run() (Result, error) {
	if err := r.step(); err != nil {
		return Result{}, err
	}
	for r.q.len() > 0 {
		at := r.q.peek().at
		if at > r.m.MaxDuration.Seconds() {
			return Result{}, fmt.Errorf("pool run: not finished after %s (%d of %d users)", r.m.MaxDuration, r.committed, r.m.Users)
		}
		r.now = at
		for r.q.len() > 0 && r.q.peek().at == at {
			if err := r.handle(r.q.pop()); err != nil {
				return Result{}, err
			}
		}
		if err := r.step(); err != nil {
			return Result{}, err
		}
	}
	return r.result()
}

func (r *poolRun) handle(e plEvent) error {
	switch e.kind {
	case plComplete:
		return r.complete(e.x, e.version)
	case plRenew:
		return r.renew(e.x)
	case plChurn:
		if r.makespan < 0 {
			return r.churn(r.m.Churn[e.churn])
		}
	case plWake:
		r.wakeAt = -1
	}
	return nil
}

// step runs the dispatcher after the events of one instant: take back expired leases,
// hand out tasks, note the drain and the end.
func (r *poolRun) step() error {
	now := r.at(r.now)
	for _, x := range r.d.Expire(now) {
		e := r.byLease[x.Lease.ID]
		e.fenced = true
		r.commit(e, x.Lease.Done)
	}
	for _, l := range r.d.Assign(now) {
		if err := r.start(l); err != nil {
			return err
		}
	}
	if v := r.d.View(); r.drainStart < 0 && v.Pending == 0 && v.FreeSlots > 0 {
		r.drainStart = r.now
	}
	if r.makespan < 0 && r.d.Done() {
		r.makespan = r.now
	}
	if r.makespan < 0 {
		if at, ok := r.d.NextExpiry(); ok {
			// A microsecond late, so the float round trip never wakes a hair early.
			t := at.Sub(epoch).Seconds() + 1e-6
			if r.wakeAt < 0 || t < r.wakeAt {
				r.wakeAt = t
				r.push(plEvent{at: t, kind: plWake})
			}
		}
	}
	return nil
}

func (r *poolRun) start(l scheduler.Lease) error {
	mc := r.byID[l.Worker]
	if mc == nil {
		return fmt.Errorf("pool run: lease %d for unknown worker %s", l.ID, l.Worker)
	}
	var sl *slot
	for _, s := range mc.slots {
		if s.busy == nil {
			sl = s
			break
		}
	}
	if sl == nil {
		return fmt.Errorf("pool run: lease %d for %s with no free slot", l.ID, l.Worker)
	}
	j := math.Exp(r.m.SliceJitter * r.noise.NormFloat64())
	x := &exec{
		lease: l.ID, slot: sl, start: r.now,
		overhead: r.m.SliceOverhead.Seconds() * j / mc.speed,
		rate:     mc.speed / (r.m.UserCost.Seconds() * j),
		base:     l.Range.Start, end: l.Range.End, running: true,
	}
	sl.busy = x
	r.execs = append(r.execs, x)
	r.byLease[l.ID] = x
	r.scheduleCompletion(x)
	r.push(plEvent{at: r.now + r.m.RenewEvery.Seconds(), kind: plRenew, x: x})
	return nil
}

// scheduleCompletion schedules x's completion: when it has processed up to its end, and
// not before its slot is next awake.
func (r *poolRun) scheduleCompletion(x *exec) {
	x.version++
	done := x.slot.advance(x.start, x.overhead+float64(x.end-x.base)/x.rate)
	r.push(plEvent{at: max(done, x.slot.advance(r.now, 0)), kind: plComplete, x: x, version: x.version})
}

// progress returns the users x has processed by t.
func (r *poolRun) progress(x *exec, t float64) int64 {
	act := x.slot.active(x.start, t) - x.overhead
	if act <= 0 {
		return 0
	}
	return min(int64(act*x.rate), x.end-x.base)
}

func (r *poolRun) stop(x *exec, processed int64) {
	x.running = false
	x.processed = processed
	x.slot.busy = nil
}

func (r *poolRun) complete(x *exec, version int) error {
	if !x.running || version != x.version {
		return nil
	}
	err := r.d.Complete(x.lease, r.at(r.now))
	r.stop(x, x.end-x.base)
	switch {
	case err == nil && x.finished:
		// Counted when it finished; this only frees the slot.
	case err == nil:
		r.commit(x, x.end-x.base)
	case errors.Is(err, scheduler.ErrFenced):
		// Its lease expired: the checkpoint was committed then, the rest is redone.
		x.fenced = true
	default:
		return fmt.Errorf("pool run: complete: %w", err)
	}
	return nil
}

func (r *poolRun) renew(x *exec) error {
	if !x.running {
		return nil
	}
	p := r.progress(x, r.now)
	l, err := r.d.Renew(x.lease, r.at(r.now), p)
	switch {
	case errors.Is(err, scheduler.ErrFenced):
		x.fenced = true
		r.stop(x, p)
		return nil
	case err != nil:
		return fmt.Errorf("pool run: renew: %w", err)
	}
	if l.Finished() {
		// A stalled lease cut back to its checkpoint: its users are done; the slot is
		// freed when it wakes.
		x.end = l.Range.End
		x.finished = true
		r.commit(x, p)
		r.scheduleCompletion(x)
		return nil
	}
	if l.Range.End != x.end {
		x.end = l.Range.End
		r.scheduleCompletion(x)
	}
	r.push(plEvent{at: r.now + r.m.RenewEvery.Seconds(), kind: plRenew, x: x})
	return nil
}

func (r *poolRun) churn(c Churn) error {
	for left := c.Leave; left > 0; {
		i := -1
		for _, k := range r.leaveOrder {
			if r.machines[k].online {
				i = k
				break
			}
		}
		if i < 0 {
			break
		}
		mc := r.machines[i]
		mc.online = false
		if err := r.d.RemoveWorker(mc.id); err != nil {
			return err
		}
		for _, s := range mc.slots {
			if x := s.busy; x != nil {
				r.stop(x, r.progress(x, r.now))
				x.departed = true
			}
		}
		left--
	}
	for range c.Join {
		if err := r.addMachine(r.joinSpeeds[len(r.machines)-r.m.Machines]); err != nil {
			return err
		}
	}
	return nil
}

// commit counts x's first n users as done, at the times x processed them.
func (r *poolRun) commit(x *exec, n int64) {
	if n <= 0 {
		return
	}
	x.commit = n
	r.committed += n
	x.slot.spread(&r.bins, x.slot.advance(x.start, x.overhead), n, x.rate)
}

func (r *poolRun) result() (Result, error) {
	var res Result
	if r.committed != r.m.Users || r.makespan < 0 {
		return res, fmt.Errorf("pool run: %d of %d users committed", r.committed, r.m.Users)
	}
	for _, x := range r.execs {
		if x.running {
			return res, fmt.Errorf("pool run: lease %d still running at the end", x.lease)
		}
		extra := x.processed - x.commit
		if extra < 0 {
			return res, fmt.Errorf("pool run: lease %d committed %d users but processed %d", x.lease, x.commit, x.processed)
		}
		if x.fenced {
			res.Twice += extra
		} else {
			res.TwiceUnfenced += extra
		}
	}
	st := r.d.Stats()
	res.Slices, res.Splits = st.Tasks, st.Splits
	res.Makespan = seconds(r.makespan)
	res.Drain = seconds(r.makespan - r.drainStart)
	res.Last5 = seconds(r.makespan - r.timeOfShare(0.95))
	res.Ideal = seconds(r.ideal())
	for i, v := range r.bins {
		addAt(&res.PerMinute, i/60, v)
	}
	return res, nil
}

// timeOfShare returns when the given share of users had been processed (and counted).
func (r *poolRun) timeOfShare(share float64) float64 {
	want, cum := share*float64(r.m.Users), 0.0
	for k, v := range r.bins {
		if cum+v >= want {
			return float64(k) + (want-cum)/v
		}
		cum += v
	}
	return float64(len(r.bins))
}

// ideal returns total work ÷ total capacity: the time the pool's expected capacity
// (speeds × slots, less the expected share of pauses, following the churn) takes to do
// users × user cost, with no slice overhead, jitter or tail.
func (r *poolRun) ideal() float64 {
	m := r.m
	up := 1 - m.PauseRate/3600*m.PauseMean.Seconds()
	online := make([]bool, len(r.machines))
	capacity := 0.0
	for i := range m.Machines {
		online[i] = true
		capacity += r.machines[i].speed
	}
	work := float64(m.Users) * m.UserCost.Seconds()
	t, next := 0.0, m.Machines
	for _, c := range m.Churn {
		rate := capacity * float64(m.Slots) * up
		if c.At.Seconds() > t && work <= rate*(c.At.Seconds()-t) {
			break
		}
		work -= rate * (c.At.Seconds() - t)
		t = c.At.Seconds()
		for left := c.Leave; left > 0; left-- {
			for _, k := range r.leaveOrder {
				if online[k] {
					online[k] = false
					capacity -= r.machines[k].speed
					break
				}
			}
		}
		for range c.Join {
			online = append(online, true)
			capacity += r.joinSpeeds[next-m.Machines]
			next++
		}
	}
	return t + work/(capacity*float64(m.Slots)*up)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// runPool runs one strategy of a pool scenario with one seed.
func runPool(sc *Scenario, st *Strategy, seed uint64) (Result, error) {
	r, err := newPoolRun(sc, st, seed)
	if err != nil {
		return Result{}, fmt.Errorf("%s / %s: %w", sc.Name, st.Name, err)
	}
	res, err := r.run()
	res.Scenario, res.Strategy, res.Seed = sc.Name, st.Name, seed
	if err != nil {
		return res, fmt.Errorf("%s / %s / seed %d: %w", sc.Name, st.Name, seed, err)
	}
	return res, nil
}
