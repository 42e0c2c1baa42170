package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/scheduler"
)

// Notification is one outbox notification as a Notifier gets it. Its Key,
// derived from (job, cycle, user) (fsm.NotificationKey), is the same on
// every delivery of it.
type Notification = api.Notification

// Notifier delivers outbox notifications to users: an SMS or push gateway,
// e-mail. The zone leader's delivery loop (outbox.go) calls Deliver at
// least once per notification and possibly more: after an error, and when
// a leader delivered but lost its term before the delivery was recorded.
// Every call for a notification carries its Key, so a downstream that
// remembers keys delivers each once. A nil error means delivered; an error
// means not delivered or unknown, and the notification is given again
// later. Implementations are safe for concurrent use.
type Notifier interface {
	Deliver(ctx context.Context, n Notification) error
}

// LogNotifier writes each notification to a structured log: the default
// notifier of a node, which makes the outbox's flow visible without a
// gateway. Its zero value logs to slog.Default().
type LogNotifier struct {
	Log *slog.Logger
}

var _ Notifier = LogNotifier{}

// Deliver logs n at info level.
func (l LogNotifier) Deliver(_ context.Context, n Notification) error {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("notification", "key", n.Key, "user", n.User, "job", n.Job, "cycle", n.Cycle,
		"amount", n.Amount, "due_date", n.DueDate)
	return nil
}

// SimGateway is a simulated SMS gateway in real time with the bank
// channel's load model (SimConfig: latency, and failures that grow past its
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
