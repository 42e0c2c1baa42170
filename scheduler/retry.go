package scheduler

import (
	"fmt"
	"time"
)

// RetryPolicy is exponential backoff with a cap and a dead-letter threshold: retry k
// (k = 1 after the first failure) waits Base × 2^k, at most Cap, and a call that has
// failed MaxAttempts times is dead-lettered for an operator to look at.
type RetryPolicy struct {
	// Base is the unit of the backoff. Default 1s, so retry 1 waits 2 s.
	Base time.Duration `yaml:"base" json:"base"`
	// Cap bounds a single wait. Default 60s.
	Cap time.Duration `yaml:"cap" json:"cap"`
	// MaxAttempts counts the first attempt too. Default 8.
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts"`
}

// DefaultRetryPolicy returns the defaults documented on each field.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Base: time.Second, Cap: time.Minute, MaxAttempts: 8}
}

// Validate checks that the policy retries at least once and waits a positive time.
func (p RetryPolicy) Validate() error {
	if p.Base <= 0 || p.Cap < p.Base || p.MaxAttempts < 1 {
		return fmt.Errorf("retry policy base=%s cap=%s max_attempts=%d: want 0 < base <= cap, max_attempts >= 1: %w",
			p.Base, p.Cap, p.MaxAttempts, ErrInvalidConfig)
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
