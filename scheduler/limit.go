package scheduler

import "time"

// Limit is what a dispatcher needs from a concurrency limit: how many calls (or task
// slots) may be in flight towards one downstream at now.
type Limit interface {
	Limit(now time.Time) int
}

// Sample is the outcome of calls to a downstream, fed back to a limiter.
type Sample struct {
	// Sent is when the calls were dispatched. A limiter ignores congestion signals from
	// calls sent before its last decrease: they describe the old limit.
	Sent time.Time
	// RTT is how long the calls took; for failures, until the failure was known.
	RTT time.Duration
	// InFlight is the number of calls in flight, these included, when they were sent.
	InFlight int
	// Failed says the calls failed (error or timeout).
	Failed bool
	// Count is how many identical calls this sample stands for; zero means one.
	Count int
}

func (s Sample) count() int {
	if s.Count <= 0 {
		return 1
	}
	return s.Count
}

// Fixed is a constant limit that ignores feedback and time: the baseline that a
// dispatcher without a limiter amounts to.
type Fixed int

// Limit returns f.
func (f Fixed) Limit(time.Time) int { return int(f) }

// Observe does nothing: a fixed limit does not learn.
func (Fixed) Observe(Sample) {}

// Update does nothing: a fixed limit does not learn.
func (Fixed) Update(time.Time) {}

// Failing reports false: a fixed limit does not look at outcomes.
func (Fixed) Failing(time.Time) bool { return false }

// Limiter is the per-downstream limit rzone runs: the minimum of the operations'
// time-window Schedule and an Adaptive limit driven by failures and latency. The window
// is also the adaptive limit's ceiling, so the adaptive part never grows past what
// operations allow, and it probes quickly towards a window that opens up.
//
// A Limiter is not safe for concurrent use: the scheduler's dispatch loop owns it. It
// reads no clock; time comes in through now.
type Limiter struct {
	schedule Schedule
	adaptive *Adaptive
}

// NewLimiter returns a Limiter over schedule with an adaptive part configured by cfg.
func NewLimiter(schedule Schedule, cfg AdaptiveConfig) (*Limiter, error) {
	if err := schedule.Validate(); err != nil {
		return nil, err
	}
	a, err := NewAdaptive(cfg)
	if err != nil {
		return nil, err
	}
	return &Limiter{schedule: schedule, adaptive: a}, nil
}

// Limit returns the limit in force at now: min(window, adaptive).
func (l *Limiter) Limit(now time.Time) int {
	return min(l.schedule.At(now), l.adaptive.Limit())
}

// Window returns the time-window part of the limit at now.
func (l *Limiter) Window(now time.Time) int { return l.schedule.At(now) }

// Adaptive returns the adaptive part of the limit, as of the last Update.
func (l *Limiter) Adaptive() int { return l.adaptive.Limit() }

// Observe feeds the outcome of finished calls to the adaptive part.
func (l *Limiter) Observe(s Sample) { l.adaptive.Observe(s) }

// Update lets the adaptive part decide, once per interval, on the samples seen since
// the last decision, with the window at now as its ceiling. Calling it more often is
// harmless.
func (l *Limiter) Update(now time.Time) { l.adaptive.Update(now, l.schedule.At(now)) }

// Failing reports whether the downstream has been failing within the adaptive part's
// Quiet period before now. A caller holds back a call's last attempts while it is (see
// RetryPolicy.Hold).
func (l *Limiter) Failing(now time.Time) bool { return l.adaptive.Failing(now) }
