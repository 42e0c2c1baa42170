package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rzonedb/rzone/scheduler"
)

// Bank is the downstream of the autodebit job.
type Bank = scheduler.Channel

// SimBankConfig shapes a SimBank. Zero fields take the defaults.
type SimBankConfig struct {
	// Slots is the calls the bank serves at once before it slows down and
	// fails (K of the benchmark's channel model). Default 200.
	Slots int
	// Latency is a call's latency with at most Slots in flight; past it,
	// Latency × in flight ÷ Slots. Default 5ms.
	Latency time.Duration
	// BaseFailure is the failure probability at or below Slots. Default 0.
	BaseFailure float64
}

// SimBank is a simulated bank channel in real time, the model of
// scheduler/sim's channel: with n calls in flight and K slots, a call takes
// Latency × max(1, n/K) and fails with probability BaseFailure + max(0,
// n/K − 1), capped at 0.95. Debits are idempotent by key. It is safe for
// concurrent use; the node uses it when no real Bank is configured (tests,
// rzone dev).
type SimBank struct {
	cfg SimBankConfig

	mu       sync.Mutex
	inFlight int
	debits   map[string]int64
}

var _ Bank = (*SimBank)(nil)

// NewSimBank returns a simulated bank channel.
func NewSimBank(cfg SimBankConfig) *SimBank {
	if cfg.Slots <= 0 {
		cfg.Slots = 200
	}
	if cfg.Latency <= 0 {
		cfg.Latency = 5 * time.Millisecond
	}
	return &SimBank{cfg: cfg, debits: map[string]int64{}}
}

// Debit debits amount under key, or returns what key debited before.
func (b *SimBank) Debit(ctx context.Context, key string, user uint64, amount int64) (int64, error) {
	b.mu.Lock()
	if d, ok := b.debits[key]; ok {
		b.mu.Unlock()
		return d, nil
	}
	b.inFlight++
	load := float64(b.inFlight) / float64(b.cfg.Slots)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}()
	select {
	case <-time.After(time.Duration(float64(b.cfg.Latency) * max(1, load))):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if rand.Float64() < min(0.95, b.cfg.BaseFailure+max(0, load-1)) {
		return 0, fmt.Errorf("debit %s of user %d: %w", key, user, scheduler.ErrChannelBusy)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, ok := b.debits[key]; ok { // a concurrent call with the key won
		return d, nil
	}
	b.debits[key] = amount
	return amount, nil
}

// Debited returns what key debited, for tests.
func (b *SimBank) Debited(key string) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.debits[key]
	return d, ok
}
