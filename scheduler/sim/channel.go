package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/rzonedb/rzone/scheduler"
)

// limiter is what the channel simulation needs from a concurrency limit; both
// scheduler.Fixed and *scheduler.Limiter are one.
type limiter interface {
	Limit(now time.Time) int
	Observe(s scheduler.Sample)
	Update(now time.Time)
	Failing(now time.Time) bool
}

// epoch is the virtual date runs start on; only its time of day matters.
var epoch = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// Event kinds of the channel simulation, in the order they run at equal times: calls
// finishing free slots before retries become ready, and both before the tick decides.
const (
	chDone = iota
	chRetry
	chTick
)

type chEvent struct {
	at       time.Duration
	kind     uint8
	seq      uint64
	attempt  int
	n        int64
	failed   bool
	sent     time.Duration
	rtt      time.Duration
	inFlight int
}

// cohort is a number of calls at the same attempt that become ready together.
type cohort struct {
	attempt int
	n       int64
}

// channelRun simulates scenario A on a virtual clock. Calls are tracked in cohorts
// (calls sent at the same instant with the same outcome), so a run costs events per
// instant, not per call; each call's failure is still drawn on its own.
type channelRun struct {
	m     *ChannelModel
	lim   limiter
	watch *Span
	seed  uint64
	rng   *rand.Rand // failures
	start time.Time
	q     queue[chEvent]
	seq   uint64

	now      time.Duration
	inFlight int
	fresh    int64
	ready    []cohort // FIFO: retries whose wait is over, sent before fresh calls
	finished int64    // succeeded or dead-lettered

	k, pBase   float64 // K with noise and the base failure rate, as of the last tick
	noiseIdx   int64
	noise      float64
	drainStart time.Duration
	t95        time.Duration
	res        Result
}

func newChannelRun(m *ChannelModel, lim limiter, watch *Span, seed uint64) *channelRun {
	r := &channelRun{
		m: m, lim: lim, watch: watch, seed: seed,
		rng:        rand.New(rand.NewPCG(seed, 0xA11CE)),
		start:      epoch.Add(time.Duration(m.Start)),
		fresh:      m.Calls,
		noiseIdx:   -1,
		drainStart: -1,
		t95:        -1,
	}
	r.q.less = func(a, b *chEvent) bool {
		if a.at != b.at {
			return a.at < b.at
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.seq < b.seq
	}
	return r
}

func (r *channelRun) push(e chEvent) {
	r.seq++
	e.seq = r.seq
	r.q.push(e)
}

// run simulates until every call has succeeded or been dead-lettered.
func (r *channelRun) run() (Result, error) {
	r.push(chEvent{at: 0, kind: chTick})
	for r.finished < r.m.Calls {
		if r.q.len() == 0 {
			return r.res, fmt.Errorf("channel run: no events left with %d calls unfinished", r.m.Calls-r.finished)
		}
		at := r.q.peek().at
		if at > r.m.MaxDuration {
			return r.res, fmt.Errorf("channel run: not finished after %s (%d of %d calls)", r.m.MaxDuration, r.finished, r.m.Calls)
		}
		if float64(r.inFlight) > r.k {
			r.res.Overload += at - r.now
		}
		r.now = at
		for r.q.len() > 0 && r.q.peek().at == at {
			r.handle(r.q.pop())
		}
		r.dispatch()
	}
	r.res.Makespan = r.now
	r.res.Drain = r.now - r.drainStart
	r.res.Last5 = r.now - r.t95
	return r.res, nil
}

func (r *channelRun) handle(e chEvent) {
	switch e.kind {
	case chTick:
		r.tick()
		r.push(chEvent{at: r.now + r.m.Tick, kind: chTick})
	case chRetry:
		if k := len(r.ready) - 1; k >= 0 && r.ready[k].attempt == e.attempt {
			r.ready[k].n += e.n
		} else {
			r.ready = append(r.ready, cohort{attempt: e.attempt, n: e.n})
		}
	case chDone:
		r.inFlight -= int(e.n)
		r.lim.Observe(scheduler.Sample{
			Sent: r.start.Add(e.sent), RTT: e.rtt, InFlight: e.inFlight, Failed: e.failed, Count: int(e.n),
		})
		if !e.failed {
			r.finish(e.n, true)
			return
		}
		r.res.Failed += e.n
		wait, ok := r.m.Retry.Next(e.attempt)
		if !ok {
			r.res.DeadLettered += e.n
			r.finish(e.n, false)
			return
		}
		r.push(chEvent{at: r.now + wait, kind: chRetry, attempt: e.attempt + 1, n: e.n})
	}
}

func (r *channelRun) finish(n int64, ok bool) {
	r.finished += n
	if ok {
		addAt(&r.res.PerMinute, int(r.now/time.Minute), float64(n))
	}
	if r.t95 < 0 && float64(r.finished) >= 0.95*float64(r.m.Calls) {
		r.t95 = r.now
	}
}

// tick reads K(t) and the base failure rate, redraws the noise when its period turns,
// and lets the limiter decide.
func (r *channelRun) tick() {
	abs := r.start.Add(r.now)
	idx := int64(abs.Sub(epoch) / r.m.NoisePeriod)
	if idx != r.noiseIdx {
		r.noiseIdx = idx
		// The noise depends on the seed and the period only, so every strategy of a
		// seed sees the same channel.
		r.noise = math.Exp(r.m.NoiseSigma * rand.New(rand.NewPCG(r.seed, uint64(idx))).NormFloat64())
	}
	k, p := r.m.nominal(abs)
	r.k, r.pBase = k*r.noise, p
	r.lim.Update(abs)
}

// nominal returns K and the base failure rate at t, without noise.
func (m *ChannelModel) nominal(t time.Time) (k, pBase float64) {
	d := scheduler.TimeOfDayOf(t)
	for _, g := range m.Segments {
		w := scheduler.Window{From: g.From, To: g.To, Limit: 1}
		if (scheduler.Schedule{Windows: []scheduler.Window{w}}).At(t) != 1 {
			continue
		}
		if g.KTo == 0 {
			return g.K, g.BaseFailure
		}
		span := time.Duration(g.To) - time.Duration(g.From)
		if span <= 0 {
			span += 24 * time.Hour
		}
		in := time.Duration(d) - time.Duration(g.From)
		if in < 0 {
			in += 24 * time.Hour
		}
		f := float64(in) / float64(span)
		return g.K + f*(g.KTo-g.K), g.BaseFailure
	}
	return m.DefaultK, 0
}

// dispatch sends as many ready retries, then fresh calls, as the limit allows; retries
// the policy holds back while the limiter reports failing stay ready. All
// calls sent at one instant see the same n: latency = Latency × max(1, n/K) and failure
// probability p = p_base + max(0, n/K − 1), capped; a failure holds its slot for
// FailureTimeout.
func (r *channelRun) dispatch() {
	abs := r.start.Add(r.now)
	free := int64(r.lim.Limit(abs) - r.inFlight)
	if free <= 0 {
		return
	}
	var batch []cohort
	failing := r.lim.Failing(abs)
	var held []cohort
	i := 0
	for ; i < len(r.ready) && free > 0; i++ {
		c := r.ready[i]
		if r.m.Retry.Hold(c.attempt, failing) {
			held = append(held, c)
			continue
		}
		n := min(free, c.n)
		batch = append(batch, cohort{attempt: c.attempt, n: n})
		free -= n
		if c.n > n {
			r.ready[i].n -= n
			break
		}
	}
	// Put the held cohorts back in front of what is left, in place: they keep their turn.
	i -= len(held)
	copy(r.ready[i:], held)
	r.ready = r.ready[i:]
	if free > 0 && r.fresh > 0 {
		n := min(free, r.fresh)
		batch = append(batch, cohort{attempt: 1, n: n})
		r.fresh -= n
	}
	if len(batch) == 0 {
		return
	}
	if r.fresh == 0 && r.drainStart < 0 {
		r.drainStart = r.now
	}
	before := r.inFlight
	for _, c := range batch {
		r.inFlight += int(c.n)
	}
	if r.watch != nil && r.watch.contains(abs) {
		if w := r.m.Windows.At(abs); r.inFlight > w {
			r.res.BeyondWindow += int64(r.inFlight - max(before, w))
		}
	}
	load := float64(r.inFlight) / r.k
	lat, p := scheduler.Overload(r.m.Latency, r.pBase, r.m.MaxFailure, load)
	if g := r.m.Resolution; g > 0 {
		lat = max(g, lat.Round(g))
	}
	for _, c := range batch {
		failed := r.binomial(c.n, p)
		if ok := c.n - failed; ok > 0 {
			r.push(chEvent{at: r.now + lat, kind: chDone, attempt: c.attempt, n: ok,
				sent: r.now, rtt: lat, inFlight: r.inFlight})
		}
		if failed > 0 {
			r.push(chEvent{at: r.now + r.m.FailureTimeout, kind: chDone, attempt: c.attempt, n: failed,
				failed: true, sent: r.now, rtt: r.m.FailureTimeout, inFlight: r.inFlight})
		}
	}
}

// binomial draws how many of n calls fail with probability p each, one draw per call.
func (r *channelRun) binomial(n int64, p float64) int64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return n
	}
	var k int64
	for range n {
		if r.rng.Float64() < p {
			k++
		}
	}
	return k
}

// addAt adds v to (*s)[i], growing the slice as needed.
func addAt(s *[]float64, i int, v float64) {
	for len(*s) <= i {
		*s = append(*s, 0)
	}
	(*s)[i] += v
}

// runChannel runs one strategy of a channel scenario with one seed.
func runChannel(sc *Scenario, st *Strategy, seed uint64) (Result, error) {
	m := sc.Channel
	var lim limiter = scheduler.Fixed(st.Fixed)
	if st.Adaptive != nil {
		l, err := scheduler.NewLimiter(m.Windows, scheduler.AdaptiveConfig(*st.Adaptive))
		if err != nil {
			return Result{}, fmt.Errorf("strategy %q: %w", st.Name, err)
		}
		lim = l
	}
	res, err := newChannelRun(m, lim, sc.Targets.WindowRespected, seed).run()
	res.Scenario, res.Strategy, res.Seed = sc.Name, st.Name, seed
	if err != nil {
		return res, fmt.Errorf("%s / %s / seed %d: %w", sc.Name, st.Name, seed, err)
	}
	return res, nil
}
