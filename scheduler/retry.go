package scheduler

import (
	"fmt"
	"time"
)

// RetryPolicy is exponential backoff with a cap and a dead-letter threshold: retry k
// (k = 1 after the first failure) waits Base × 2^k, at most Cap, and a call that has
// failed MaxAttempts times is dead-lettered for an operator to look at. The wait is a
// minimum: a retry also waits for a free slot under the limit, and its last Reserve
// attempts wait for the downstream to stop failing.
type RetryPolicy struct {
	// Base is the unit of the backoff. Default 1s, so retry 1 waits 2 s.
	Base time.Duration `yaml:"base" json:"base"`
	// Cap bounds a single wait. Default 60s.
	Cap time.Duration `yaml:"cap" json:"cap"`
	// MaxAttempts counts the first attempt too. Default 8.
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts"`
	// Reserve is how many of a call's last attempts are held back while the limiter
	// reports the downstream failing, so that an outage cannot use them up: an outage
	// with a 30 % failure rate dead-letters a call that is retried through it with
	// probability 0.3^MaxAttempts, but not one whose last attempt waits for the outage to
	// end. Zero holds nothing. Default 1.
	Reserve int `yaml:"reserve" json:"reserve"`
}

// DefaultRetryPolicy returns the defaults documented on each field.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Base: time.Second, Cap: time.Minute, MaxAttempts: 8, Reserve: 1}
}

// Validate checks that the policy retries at least once and waits a positive time.
func (p RetryPolicy) Validate() error {
	if p.Base <= 0 || p.Cap < p.Base || p.MaxAttempts < 1 || p.Reserve < 0 || p.Reserve >= p.MaxAttempts {
		return fmt.Errorf("retry policy base=%s cap=%s max_attempts=%d reserve=%d: want 0 < base <= cap, max_attempts >= 1, 0 <= reserve < max_attempts: %w",
			p.Base, p.Cap, p.MaxAttempts, p.Reserve, ErrInvalidConfig)
	}
	return nil
}

// Next returns the wait before the next attempt of a call that has just failed its
// attempts-th attempt, or ok false when the call must be dead-lettered.
func (p RetryPolicy) Next(attempts int) (wait time.Duration, ok bool) {
	if attempts >= p.MaxAttempts {
		return 0, false
	}
	wait = p.Base
	for i := 0; i < attempts && wait < p.Cap; i++ {
		wait *= 2
	}
	wait = min(wait, p.Cap)
	return wait, true
}

// Hold reports whether attempt (counting from 1) of a call must wait because it is one
// of the last Reserve attempts and the downstream is failing.
func (p RetryPolicy) Hold(attempt int, failing bool) bool {
	return failing && attempt > p.MaxAttempts-p.Reserve
}
