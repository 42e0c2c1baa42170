package scheduler

import (
	"context"
	"errors"
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
