package scheduler

import (
	"fmt"
	"math"
	"time"
)

// AdaptiveConfig configures an Adaptive limit. Zero values are not defaults: start from
// DefaultAdaptiveConfig and change what you need.
type AdaptiveConfig struct {
	// Initial is the limit before any feedback, in calls. Default 10.
	Initial int `yaml:"initial" json:"initial"`
	// Min is the floor, in calls; the limit never goes below it, so the downstream keeps
	// being probed even while it fails. Default 1.
	Min int `yaml:"min" json:"min"`
	// Max is the ceiling, in calls, when the caller passes no window. Default 10000.
	Max int `yaml:"max" json:"max"`
	// Interval is how often the limit is decided, from the samples seen since the last
	// decision. Default 1s.
	Interval time.Duration `yaml:"interval" json:"interval"`
	// FailureTolerance is the share of failed calls in an interval at or below which
	// failures are not a signal. Default 0: any failure is, which suits a downstream that
	// fails only when overloaded or broken; set it to a channel's background error rate.
	FailureTolerance float64 `yaml:"failure_tolerance" json:"failure_tolerance"`
	// LatencyTolerance is how far the mean RTT of an interval may rise above the baseline
	// (the lowest RTT of the last BaselineWindow) before it is a signal: 0.01 means 1 %.
	// The mean of an interval's calls is steadier than any one call. Default 0.01.
	LatencyTolerance float64 `yaml:"latency_tolerance" json:"latency_tolerance"`
	// Backoff is the multiplicative decrease on failures: the limit is multiplied by
	// min(Backoff, 1 - failure share), so heavier failure backs off harder. Default 0.9.
	Backoff float64 `yaml:"backoff" json:"backoff"`
	// Headroom applies on latency growth: the limit drops to the capacity estimated by
	// Little's law (in flight × baseline ÷ RTT) times Headroom. Default 0.9.
	Headroom float64 `yaml:"headroom" json:"headroom"`
	// Probe is the additive increase per interval, in calls, once congestion has been
	// seen: the slow probe up. Default 1.
	Probe float64 `yaml:"probe" json:"probe"`
	// SlowStart is the multiplicative increase per interval before the first congestion
	// signal, and again after the window (the ceiling) opens up: the operators' table says
	// capacity is there, so the limit climbs to it in seconds rather than minutes. Default 1.2.
	SlowStart float64 `yaml:"slow_start" json:"slow_start"`
	// BaselineWindow is how long the lowest RTT is remembered as the no-load baseline.
	// Default 10m.
	BaselineWindow time.Duration `yaml:"baseline_window" json:"baseline_window"`
	// Quiet is how long after the last failure signal the downstream still counts as
	// failing (see Failing). Default 30s.
	Quiet time.Duration `yaml:"quiet" json:"quiet"`
	// BaselineMean takes the baseline from the intervals' mean RTTs rather than from
	// single calls: the baseline is then the lowest interval mean of the last
	// BaselineWindow, which is what an interval's mean is compared against. For a
	// downstream whose calls vary widely with no load on it (a zone's log entry on busy
	// machines), one lucky fast call would otherwise set a baseline that no interval's
	// mean reaches even at the floor, and the limit would stay there. Default false.
	BaselineMean bool `yaml:"baseline_mean" json:"baseline_mean"`
}

// DefaultAdaptiveConfig returns the defaults documented on each field.
func DefaultAdaptiveConfig() AdaptiveConfig {
	return AdaptiveConfig{
		Initial:          10,
		Min:              1,
		Max:              10000,
		Interval:         time.Second,
		FailureTolerance: 0,
		LatencyTolerance: 0.01,
		Backoff:          0.9,
		Headroom:         0.9,
		Probe:            1,
		SlowStart:        1.2,
		BaselineWindow:   10 * time.Minute,
		Quiet:            30 * time.Second,
	}
}

// Validate checks each field's range and that Min ≤ Initial ≤ Max.
func (c AdaptiveConfig) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("adaptive %s = %v: %s: %w", field, v, want, ErrInvalidConfig)
	}
	switch {
	case c.Min < 1:
		return bad("min", c.Min, "must be at least 1")
	case c.Max < c.Min:
		return bad("max", c.Max, "must be at least min")
	case c.Initial < c.Min || c.Initial > c.Max:
		return bad("initial", c.Initial, "must lie in [min, max]")
	case c.Interval <= 0:
		return bad("interval", c.Interval, "must be positive")
	case c.FailureTolerance < 0 || c.FailureTolerance >= 1:
		return bad("failure_tolerance", c.FailureTolerance, "must lie in [0, 1)")
	case c.LatencyTolerance < 0:
		return bad("latency_tolerance", c.LatencyTolerance, "must not be negative")
	case c.Backoff <= 0 || c.Backoff >= 1:
		return bad("backoff", c.Backoff, "must lie in (0, 1)")
	case c.Headroom <= 0 || c.Headroom > 1:
		return bad("headroom", c.Headroom, "must lie in (0, 1]")
	case c.Probe <= 0:
		return bad("probe", c.Probe, "must be positive")
	case c.SlowStart <= 1:
		return bad("slow_start", c.SlowStart, "must be above 1")
	case c.BaselineWindow < c.Interval:
		return bad("baseline_window", c.BaselineWindow, "must be at least one interval")
	case c.Quiet < 0:
		return bad("quiet", c.Quiet, "must not be negative")
	}
	return nil
}

// Adaptive is a windowed AIMD limit with a latency gradient, in the style of Netflix's
// concurrency-limits: once per Interval it looks at the calls that finished since the
// last decision and
//
//   - backs off multiplicatively when more than FailureTolerance of them failed;
//   - otherwise, when their mean RTT rose above the baseline, drops to the capacity that
//     Little's law estimates from that rise, less Headroom;
//   - otherwise, if the limit was actually reached, probes up: multiplicatively in slow
//     start, by Probe once congestion has been seen.
//
// Signals from calls sent before the last decrease are ignored, as TCP reduces at most
// once per round trip, and so are those sent before the window last opened. Adaptive is deterministic given its inputs, reads no clock and is
// not safe for concurrent use.
type Adaptive struct {
	cfg          AdaptiveConfig
	limit        float64
	ceiling      int
	slowStart    bool
	next         time.Time // end of the current interval; zero before the first Update
	ignoreBefore time.Time // samples of calls sent earlier describe an old limit or window
	lastFailure  time.Time // last decision that saw failures above tolerance

	// Accumulated over the current interval.
	calls, failed, ok int
	rttSum            float64 // seconds, over successful calls
	inFlightSum       float64 // over successful calls
	minRTT            time.Duration
	maxInFlight       int

	baseline []rttMark // per-interval minima (means), increasing RTT: a sliding-window minimum
}

type rttMark struct {
	at  time.Time
	rtt time.Duration
}

// NewAdaptive returns an Adaptive limit starting at cfg.Initial, in slow start.
func NewAdaptive(cfg AdaptiveConfig) (*Adaptive, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Adaptive{cfg: cfg, limit: float64(cfg.Initial), slowStart: true}, nil
}

// Limit returns the limit decided by the last Update, in calls.
func (a *Adaptive) Limit() int {
	return max(a.cfg.Min, int(math.Floor(a.limit)))
}

// SlowStart reports whether the limit is still climbing multiplicatively.
func (a *Adaptive) SlowStart() bool { return a.slowStart }

// Failing reports whether a decision within the last Quiet before now saw failures
// above tolerance: the downstream is failing, whatever the limit.
func (a *Adaptive) Failing(now time.Time) bool {
	return !a.lastFailure.IsZero() && now.Sub(a.lastFailure) < a.cfg.Quiet
}

// Observe records finished calls for the next decision.
func (a *Adaptive) Observe(s Sample) {
	if s.Sent.Before(a.ignoreBefore) {
		return
	}
	n := s.count()
	a.calls += n
	a.maxInFlight = max(a.maxInFlight, s.InFlight)
	if s.Failed {
		a.failed += n
		return
	}
	a.ok += n
	a.rttSum += s.RTT.Seconds() * float64(n)
	a.inFlightSum += float64(s.InFlight) * float64(n)
	if a.minRTT == 0 || s.RTT < a.minRTT {
		a.minRTT = s.RTT
	}
}

// Update applies the ceiling at once (the window in force, in calls; zero or less means
// cfg.Max) and, when an interval has passed since the last decision, decides a new limit.
// A ceiling that rises puts the limit back in slow start.
func (a *Adaptive) Update(now time.Time, ceiling int) {
	if ceiling <= 0 {
		ceiling = a.cfg.Max
	}
	if a.ceiling > 0 && ceiling > a.ceiling {
		// The window opened: climb to it fast, judged only by calls sent from now on.
		a.slowStart = true
		a.ignoreBefore = now
		a.reset()
	}
	a.ceiling = ceiling
	a.clamp()
	if a.next.IsZero() {
		a.next = now.Add(a.cfg.Interval)
		return
	}
	if now.Before(a.next) {
		return
	}
	a.decide(now)
	a.clamp()
	a.reset()
	for !now.Before(a.next) {
		a.next = a.next.Add(a.cfg.Interval)
	}
}

// reset forgets the samples of the current interval.
func (a *Adaptive) reset() {
	a.calls, a.failed, a.ok = 0, 0, 0
	a.rttSum, a.inFlightSum, a.minRTT, a.maxInFlight = 0, 0, 0, 0
}

func (a *Adaptive) clamp() {
	a.limit = math.Min(a.limit, float64(a.ceiling))
	a.limit = math.Max(a.limit, float64(a.cfg.Min))
}

// decide is one decision over the interval's samples.
func (a *Adaptive) decide(now time.Time) {
	if a.calls == 0 {
		return // no traffic, no information
	}
	if a.failed > 0 {
		share := float64(a.failed) / float64(a.calls)
		if share > a.cfg.FailureTolerance {
			a.lastFailure = now
			a.decrease(now, a.limit*math.Min(a.cfg.Backoff, 1-share))
			return
		}
	}
	if a.ok > 0 {
		mean := a.rttSum / float64(a.ok)
		if a.cfg.BaselineMean {
			a.minRTT = time.Duration(mean * float64(time.Second))
		}
		base := a.baselineRTT(now).Seconds()
		if mean > base*(1+a.cfg.LatencyTolerance) {
			capacity := a.inFlightSum / float64(a.ok) * base / mean
			a.decrease(now, math.Min(a.limit, capacity*a.cfg.Headroom))
			return
		}
	}
	if float64(a.maxInFlight)*2 < a.limit {
		return // the limit was not what held traffic back: nothing learnt about it
	}
	if a.slowStart {
		a.limit *= a.cfg.SlowStart
	} else {
		a.limit += a.cfg.Probe
	}
}

func (a *Adaptive) decrease(now time.Time, to float64) {
	a.slowStart = false
	if to < a.limit {
		a.limit = to
		a.ignoreBefore = now
	}
}

// baselineRTT pushes this interval's lowest RTT (its mean RTT with BaselineMean) into the
// sliding window and returns the window's minimum.
func (a *Adaptive) baselineRTT(now time.Time) time.Duration {
	for len(a.baseline) > 0 && a.baseline[len(a.baseline)-1].rtt >= a.minRTT {
		a.baseline = a.baseline[:len(a.baseline)-1]
	}
	a.baseline = append(a.baseline, rttMark{at: now, rtt: a.minRTT})
	cut := now.Add(-a.cfg.BaselineWindow)
	i := 0
	for i < len(a.baseline)-1 && a.baseline[i].at.Before(cut) {
		i++
	}
	a.baseline = a.baseline[i:]
	return a.baseline[0].rtt
}
