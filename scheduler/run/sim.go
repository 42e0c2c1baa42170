package run

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rzonedb/rzone/scheduler"
)

// SimConfig shapes a simulated downstream (SimBank, SimGateway). Zero
// fields take the defaults.
type SimConfig struct {
	// Slots is the calls the downstream serves at once before it slows
	// down and fails (K of the benchmark's channel model). Default 200.
	Slots int
	// Latency is a call's latency with at most Slots in flight; past it,
	// Latency × in flight ÷ Slots. Default 5ms.
	Latency time.Duration
	// BaseFailure is the failure probability at or below Slots. Default 0.
	BaseFailure float64
}

// simLoad is the load model of scheduler/sim's channel in real time, shared
// by the simulated downstreams: with n calls in flight and K slots, a call
// takes Latency × max(1, n/K) and fails with probability BaseFailure +
// max(0, n/K − 1), capped at 0.95. It is safe for concurrent use.
type simLoad struct {
	cfg SimConfig

	mu       sync.Mutex
	inFlight int
}

func newSimLoad(cfg SimConfig) *simLoad {
	if cfg.Slots <= 0 {
		cfg.Slots = 200
	}
	if cfg.Latency <= 0 {
		cfg.Latency = 5 * time.Millisecond
	}
	return &simLoad{cfg: cfg}
}

// call spends one call's latency and reports whether the call failed; err
// is ctx's error when ctx ended first.
func (s *simLoad) call(ctx context.Context) (failed bool, err error) {
	s.mu.Lock()
	s.inFlight++
	load := float64(s.inFlight) / float64(s.cfg.Slots)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	lat, p := scheduler.Overload(s.cfg.Latency, s.cfg.BaseFailure, 0.95, load)
	select {
	case <-time.After(lat):
	case <-ctx.Done():
		return false, ctx.Err()
	}
	return rand.Float64() < p, nil
}

// SimBank is a simulated bank channel in real time (simLoad's model).
// Debits are idempotent by key. It is safe for concurrent use; the node
// uses it when no real Bank is configured (tests, rzone dev).
type SimBank struct {
	load *simLoad

	mu     sync.Mutex
	debits map[string]int64
}

var _ Bank = (*SimBank)(nil)

// NewSimBank returns a simulated bank channel.
func NewSimBank(cfg SimConfig) *SimBank {
	return &SimBank{load: newSimLoad(cfg), debits: map[string]int64{}}
}

// Debit debits amount under key, or returns what key debited before.
func (b *SimBank) Debit(ctx context.Context, key string, user uint64, amount int64) (int64, error) {
	b.mu.Lock()
	if d, ok := b.debits[key]; ok {
		b.mu.Unlock()
		return d, nil
	}
	b.mu.Unlock()
	failed, err := b.load.call(ctx)
	if err != nil {
		return 0, err
	}
	if failed {
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

// slots). It records every notification it accepted and how often, by key,
// which makes it the recording notifier of tests. Like a real gateway it
// reports, not hides, a second delivery of a key (Sent counts it). It is
// safe for concurrent use.
type SimGateway struct {
	load *simLoad

	mu    sync.Mutex
	sent  map[string]int
	calls int
}

var _ Notifier = (*SimGateway)(nil)

// NewSimGateway returns a simulated gateway.
func NewSimGateway(cfg SimConfig) *SimGateway {
	return &SimGateway{load: newSimLoad(cfg), sent: map[string]int{}}
}

// Deliver accepts n after the call's latency, or fails under load (an
// error wrapping scheduler.ErrChannelBusy) or when ctx ends.
func (g *SimGateway) Deliver(ctx context.Context, n Notification) error {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	failed, err := g.load.call(ctx)
	if err != nil {
		return err
	}
	if failed {
		return fmt.Errorf("notify %s: %w", n.Key, scheduler.ErrChannelBusy)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent[n.Key]++
	return nil
}

// Sent returns how many times key was accepted (0: never).
func (g *SimGateway) Sent(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sent[key]
}

// Keys returns the keys accepted at least once, sorted.
func (g *SimGateway) Keys() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.sent))
	for k := range g.sent {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Stats returns the calls made (failed ones included), the distinct keys
// accepted, and the accepted calls beyond the first of their key.
func (g *SimGateway) Stats() (calls, keys, duplicates int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.sent {
		keys++
		duplicates += n - 1
	}
	return g.calls, keys, duplicates
}
