package scheduler

import (
	"context"
	"errors"
	"time"
)

// Channel is a downstream that moves money for the autodebit job, such as a bank's
// debit channel. Debit takes amount minor units from user's bank account under an
// idempotency key derived from (job, cycle, user): a second call with the same key
// returns what the first one debited and debits nothing more, so a retried task cannot
// debit twice. An error means nothing was debited under the key, or that the outcome
// is unknown and the same key must be retried; ErrChannelBusy marks overload, which
// the caller feeds to its concurrency limit. Implementations are safe for concurrent
// use. The cluster runs a simulated channel (run.SimBank); the benchmark simulates
// one on a virtual clock (scheduler/sim).
type Channel interface {
	Debit(ctx context.Context, key string, user uint64, amount int64) (debited int64, err error)
}

// ErrChannelBusy is returned by a Channel that refused or timed out a call because it
// is overloaded.
var ErrChannelBusy = errors.New("scheduler: downstream channel busy")

// Overload is the load model of a simulated downstream (scheduler/sim's
// channels in virtual time, scheduler/run's SimBank and SimGateway in real
// time): with load = calls in flight ÷ slots, a call takes latency ×
// max(1, load) and fails with probability base + max(0, load − 1), capped
// at maxFailure.
func Overload(latency time.Duration, base, maxFailure, load float64) (time.Duration, float64) {
	return time.Duration(float64(latency) * max(1, load)), min(maxFailure, base+max(0, load-1))
}
