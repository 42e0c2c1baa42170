package scheduler

import (
	"fmt"
	"math"
	"time"
)

// Window is one row of a time-window schedule: from From (inclusive) to To (exclusive),
// by time of day, at most Limit calls may be in flight. A window whose To is not after its
// From wraps past midnight ("23:30" to "00:30"). When LimitTo is set, the limit ramps
// linearly from Limit at From to LimitTo at To, as operations would announce a slow
// hand-over ("06:00 to 08:00, from 800 down to 250").
type Window struct {
	From    TimeOfDay `yaml:"from" json:"from"`
	To      TimeOfDay `yaml:"to" json:"to"`
	Limit   int       `yaml:"limit" json:"limit"`
	LimitTo int       `yaml:"limit_to,omitempty" json:"limit_to,omitempty"`
}

// length is how long the window lasts, in (0, 24h].
func (w Window) length() time.Duration {
	if l := w.To.since(w.From); l > 0 {
		return l
	}
	return day
}

// at returns the window's limit at time of day d and whether d falls inside it.
func (w Window) at(d TimeOfDay) (int, bool) {
	in := d.since(w.From)
	l := w.length()
	if in >= l {
		return 0, false
	}
	if w.LimitTo == 0 || w.LimitTo == w.Limit {
		return w.Limit, true
	}
	f := float64(in) / float64(l)
	return int(math.Round(float64(w.Limit) + f*float64(w.LimitTo-w.Limit))), true
}

// Schedule is the time-window table that operations configure for one downstream: the
// first window that contains the time of day gives the limit, and Default applies outside
// every window. The zero Schedule has no windows and a Default of 0, which allows
// nothing; use Unlimited for a downstream without a table.
//
// Schedule is a value: it is safe for concurrent use as long as nobody mutates Windows.
type Schedule struct {
	Windows []Window `yaml:"windows" json:"windows"`
	Default int      `yaml:"default" json:"default"`
}

// Unlimited is a Schedule that never limits (math.MaxInt32 calls at any time).
var Unlimited = Schedule{Default: math.MaxInt32}

// At returns the limit in force at t, read in t's location.
func (s Schedule) At(t time.Time) int {
	d := TimeOfDayOf(t)
	for _, w := range s.Windows {
		if l, ok := w.at(d); ok {
			return l
		}
	}
	return s.Default
}

// Validate checks every window: a positive limit, a non-negative ramp target and a
// non-empty span.
func (s Schedule) Validate() error {
	if s.Default < 0 {
		return fmt.Errorf("schedule default %d: negative: %w", s.Default, ErrInvalidConfig)
	}
	for i, w := range s.Windows {
		switch {
		case w.Limit <= 0:
			return fmt.Errorf("window %d (%s-%s): limit %d must be positive: %w", i, w.From, w.To, w.Limit, ErrInvalidConfig)
		case w.LimitTo < 0:
			return fmt.Errorf("window %d (%s-%s): limit_to %d is negative: %w", i, w.From, w.To, w.LimitTo, ErrInvalidConfig)
		case w.From == w.To:
			return fmt.Errorf("window %d: from and to are both %s: %w", i, w.From, ErrInvalidConfig)
		case time.Duration(w.From) >= day:
			return fmt.Errorf("window %d: from %s is not a time of day: %w", i, w.From, ErrInvalidConfig)
		}
	}
	return nil
}
