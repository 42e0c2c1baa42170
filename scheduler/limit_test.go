package scheduler

import (
	"errors"
	"testing"
	"time"
)

var day0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func at(hhmm string) time.Time {
	d, err := ParseTimeOfDay(hhmm)
	if err != nil {
		panic(err)
	}
	return day0.Add(time.Duration(d))
}

func nightSchedule() Schedule {
	tod := func(s string) TimeOfDay { d, _ := ParseTimeOfDay(s); return d }
	return Schedule{Default: 250, Windows: []Window{
		{From: tod("23:30"), To: tod("00:30"), Limit: 50},
		{From: tod("02:00"), To: tod("02:20"), Limit: 100},
		{From: tod("00:30"), To: tod("06:00"), Limit: 800},
		{From: tod("06:00"), To: tod("08:00"), Limit: 800, LimitTo: 250},
	}}
}

func TestScheduleAt(t *testing.T) {
	s := nightSchedule()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   string
		want int
	}{
		{"daytime default", "12:00", 250},
		{"cut-over before midnight", "23:45", 50},
		{"cut-over after midnight", "00:10", 50},
		{"cut-over ends at its To", "00:30", 800},
		{"night", "01:00", 800},
		{"first match wins: maintenance inside the night", "02:10", 100},
		{"maintenance ends", "02:20", 800},
		{"ramp starts", "06:00", 800},
		{"ramp halfway", "07:00", 525},
		{"after the ramp", "08:00", 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.At(at(tt.at)); got != tt.want {
				t.Errorf("At(%s) = %d, want %d", tt.at, got, tt.want)
			}
		})
	}
}

func TestParseTimeOfDay(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:30", 30 * time.Minute, true},
		{"23:59:30", 23*time.Hour + 59*time.Minute + 30*time.Second, true},
		{"24:00", 24 * time.Hour, true},
		{"24:01", 0, false},
		{"7:00", 0, false},
		{"07:60", 0, false},
		{"noon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTimeOfDay(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseTimeOfDay(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if tt.ok && time.Duration(got) != tt.want {
				t.Errorf("ParseTimeOfDay(%q) = %v, want %v", tt.in, time.Duration(got), tt.want)
			}
		})
	}
}

// drive feeds a limiter one interval of calls at a time, as a dispatch loop would: every
// call sent at the limit, all with the same outcome.
type drive struct {
	t   *testing.T
	l   *Limiter
	now time.Time
}

func newDrive(t *testing.T, s Schedule, start string) *drive {
	t.Helper()
	l, err := NewLimiter(s, DefaultAdaptiveConfig())
	if err != nil {
		t.Fatal(err)
	}
	d := &drive{t: t, l: l, now: at(start)}
	l.Update(d.now)
	return d
}

// second sends Limit calls; failed of them fail, the rest take rtt; then a second
// passes and the limiter decides.
func (d *drive) second(failed int, rtt time.Duration) int {
	n := d.l.Limit(d.now)
	if ok := n - failed; ok > 0 {
		d.l.Observe(Sample{Sent: d.now, RTT: rtt, InFlight: n, Count: ok})
	}
	if failed > 0 {
		d.l.Observe(Sample{Sent: d.now, RTT: 3 * time.Second, InFlight: n, Failed: true, Count: failed})
	}
	d.now = d.now.Add(time.Second)
	d.l.Update(d.now)
	return d.l.Limit(d.now)
}

func TestLimiterBacksOffOnFailures(t *testing.T) {
	d := newDrive(t, nightSchedule(), "01:00")
	for range 60 {
		d.second(0, time.Second)
	}
	if got := d.l.Limit(d.now); got != 800 {
		t.Fatalf("healthy limit after a minute = %d, want the window's 800", got)
	}
	// Every call fails now: the limit must fall fast, at least ×0.9 a second.
	prev := 800
	for i := range 10 {
		got := d.second(d.l.Limit(d.now)/2, time.Second)
		if got > prev*9/10+1 {
			t.Fatalf("second %d of failures: limit %d, want at most 0.9 × %d", i, got, prev)
		}
		prev = got
	}
	if prev > 10 {
		t.Errorf("limit after 10 s of 50 %% failures = %d, want near the floor", prev)
	}
	if !d.l.Failing(d.now) {
		t.Error("Failing = false while calls fail")
	}
}

func TestLimiterBacksOffOnLatency(t *testing.T) {
	d := newDrive(t, nightSchedule(), "01:00")
	for range 60 {
		d.second(0, time.Second)
	}
	// The downstream's capacity dropped to 640: RTT = 800/640 = 1.25 s.
	got := d.second(0, 1250*time.Millisecond)
	if want := int(640 * DefaultAdaptiveConfig().Headroom); got != want {
		t.Errorf("limit after one slow second = %d, want capacity × headroom = %d", got, want)
	}
	if d.l.Failing(d.now) {
		t.Error("Failing = true with no failure")
	}
}

func TestLimiterRespectsWindow(t *testing.T) {
	d := newDrive(t, nightSchedule(), "01:55")
	for range 20 * 60 {
		if got := d.second(0, time.Second); got > d.l.Window(d.now) {
			t.Fatalf("at %s limit %d above window %d", d.now.Format("15:04:05"), got, d.l.Window(d.now))
		}
	}
	if got := d.l.Limit(at("02:10")); got > 100 {
		t.Errorf("limit during maintenance = %d, want at most 100", got)
	}
}

func TestLimiterRecovers(t *testing.T) {
	d := newDrive(t, nightSchedule(), "01:00")
	for range 60 {
		d.second(0, time.Second)
	}
	for range 30 {
		d.second(d.l.Limit(d.now), time.Second) // an outage: everything fails
	}
	low := d.l.Limit(d.now)
	if low > 5 {
		t.Fatalf("limit after a 30 s outage = %d, want near the floor", low)
	}
	// Healthy again, same window: the limit probes up, slowly (additively).
	for range 60 {
		d.second(0, time.Second)
	}
	got := d.l.Limit(d.now)
	if got <= low || got > low+61 {
		t.Errorf("limit after a healthy minute = %d, want above %d by at most one a second", got, low)
	}
	// Not failing any more once Quiet has passed.
	if d.l.Failing(d.now) {
		t.Error("Failing = true a minute after the last failure")
	}
}

func TestLimiterSlowStartWhenWindowOpens(t *testing.T) {
	d := newDrive(t, nightSchedule(), "02:00")
	for range 19 * 60 {
		d.second(5, time.Second) // maintenance: 5 failures a second
	}
	if got := d.l.Limit(d.now); got > 20 {
		t.Fatalf("limit at the end of a failing maintenance = %d, want low", got)
	}
	for d.now.Before(at("02:20")) {
		d.second(0, time.Second)
	}
	// The window opens to 800: slow start takes the limit there within a minute.
	for range 60 {
		d.second(0, time.Second)
	}
	if got := d.l.Limit(d.now); got != 800 {
		t.Errorf("limit a minute after the window opened = %d, want 800", got)
	}
}

func TestAdaptiveDeterministic(t *testing.T) {
	run := func() []int {
		d := newDrive(t, Unlimited, "01:00")
		var out []int
		for i := range 300 {
			out = append(out, d.second(i%7, time.Duration(1000+i%13*20)*time.Millisecond))
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: %d then %d from the same inputs", i, a[i], b[i])
		}
	}
}

func TestAdaptiveConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*AdaptiveConfig)
	}{
		{"min zero", func(c *AdaptiveConfig) { c.Min = 0 }},
		{"initial above max", func(c *AdaptiveConfig) { c.Initial = c.Max + 1 }},
		{"backoff one", func(c *AdaptiveConfig) { c.Backoff = 1 }},
		{"headroom zero", func(c *AdaptiveConfig) { c.Headroom = 0 }},
		{"slow start one", func(c *AdaptiveConfig) { c.SlowStart = 1 }},
		{"interval zero", func(c *AdaptiveConfig) { c.Interval = 0 }},
		{"failure tolerance one", func(c *AdaptiveConfig) { c.FailureTolerance = 1 }},
	}
	if err := DefaultAdaptiveConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultAdaptiveConfig()
			tt.change(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestRetryPolicy(t *testing.T) {
	p := DefaultRetryPolicy()
	want := []time.Duration{2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		got, ok := p.Next(i + 1)
		if !ok || got != w*time.Second {
			t.Errorf("Next(%d) = %v, %v; want %v, true", i+1, got, ok, w*time.Second)
		}
	}
	if _, ok := p.Next(8); ok {
		t.Error("Next(8) retries; want dead-letter after 8 attempts")
	}
	if !p.Hold(8, true) || p.Hold(8, false) || p.Hold(7, true) {
		t.Error("Hold: want only the last attempt held, and only while failing")
	}
}

// noisyDrive runs a for secs seconds against a downstream whose calls take
// rtt(limit) on average but whose fastest call of every second is 5×
// faster than that mean, at any load, as a zone's log entries on busy
// machines are; each second, failed more calls fail. It returns the
// limit after each second.
func noisyDrive(t *testing.T, a *Adaptive, now *time.Time, secs int, rtt func(limit int) time.Duration, failed int) []int {
	t.Helper()
	var out []int
	for range secs {
		n := a.Limit()
		mean := rtt(n)
		// 10 calls: one at mean/5, nine making up the mean.
		fast := mean / 5
		slow := (10*mean - fast) / 9
		a.Observe(Sample{Sent: *now, RTT: fast, InFlight: n, Count: 1})
		a.Observe(Sample{Sent: *now, RTT: slow, InFlight: n, Count: 9})
		if failed > 0 {
			a.Observe(Sample{Sent: *now, RTT: mean, InFlight: n, Failed: true, Count: failed})
		}
		*now = now.Add(time.Second)
		a.Update(*now, 0)
		out = append(out, a.Limit())
	}
	return out
}

// notifyAdaptive is an Adaptive limit configured as the cluster's notify
// downstream (scheduler/run: Initial 16, Min 2, LatencyTolerance 1,
// FailureTolerance 0.1), with or without BaselineMean.
func notifyAdaptive(t *testing.T, baselineMean bool) (*Adaptive, *time.Time) {
	t.Helper()
	c := DefaultAdaptiveConfig()
	c.Initial, c.Min = 16, 2
	c.LatencyTolerance, c.FailureTolerance = 1.0, 0.1
	c.BaselineMean = baselineMean
	a, err := NewAdaptive(c)
	if err != nil {
		t.Fatal(err)
	}
	now := day0
	a.Update(now, 0)
	return a, &now
}

// TestAdaptiveBaselineMeanUnderNoise: against a downstream whose latency
// does not depend on the load at all but whose fastest call is 5× faster
// than the mean, the single-call baseline reads the noise as congestion
// and pins the limit to its floor; the baseline of interval means does
// not, and the limit keeps probing up.
func TestAdaptiveBaselineMeanUnderNoise(t *testing.T) {
	flat := func(int) time.Duration { return 100 * time.Millisecond }
	a, now := notifyAdaptive(t, false)
	if got := noisyDrive(t, a, now, 30, flat, 0); got[len(got)-1] != 2 {
		t.Fatalf("single-call baseline: limits %v, want the floor 2 (the collapse this option is for)", got)
	}
	a, now = notifyAdaptive(t, true)
	got := noisyDrive(t, a, now, 30, flat, 0)
	if last := got[len(got)-1]; last <= 16 {
		t.Fatalf("baseline of means: limits %v, want above the initial 16 under a flat latency", got)
	}
}

// TestAdaptiveBaselineMeanBacksOff: with the baseline of interval means the
// limit still backs off when the downstream truly slows down (its mean
// latency triples) and when calls fail.
func TestAdaptiveBaselineMeanBacksOff(t *testing.T) {
	flat := func(int) time.Duration { return 100 * time.Millisecond }
	a, now := notifyAdaptive(t, true)
	noisyDrive(t, a, now, 20, flat, 0)
	before := a.Limit()
	slower := func(int) time.Duration { return 300 * time.Millisecond }
	got := noisyDrive(t, a, now, 1, slower, 0)
	if got[0] > before/2 {
		t.Fatalf("latency tripled: limit %d → %d, want at most half", before, got[0])
	}

	// A downstream whose latency grows with the load beyond 4 calls (a
	// queue) from the start: the limit settles where the mean stays within
	// the tolerance. Started above the capacity, it learns the unloaded
	// latency only as it comes down, so it takes a minute or so (each
	// decrease lowers the baseline too), where the single-call baseline
	// fell at once.
	a, now = notifyAdaptive(t, true)
	queue := func(n int) time.Duration {
		return time.Duration(max(1, float64(n)/4) * float64(100*time.Millisecond))
	}
	got = noisyDrive(t, a, now, 150, queue, 0)
	for _, l := range got[100:] {
		if l < 3 || l > 9 {
			t.Fatalf("queueing downstream: limits %v, want them held within 3-9 (latency ≤ 2× baseline)", got)
		}
	}

	// Failures: 3 calls in 13 fail, every second.
	a, now = notifyAdaptive(t, true)
	noisyDrive(t, a, now, 20, flat, 0)
	before = a.Limit()
	got = noisyDrive(t, a, now, 10, flat, 3)
	if got[len(got)-1] >= before/2 {
		t.Fatalf("failing calls: limit %d → %v, want it down by half at least", before, got)
	}
}
