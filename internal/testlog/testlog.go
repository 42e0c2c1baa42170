// Package testlog sends the logs of the components a test runs to the
// test's own log, until the test ends.
package testlog

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// New returns a logger that writes to t's log at level and above. Call it
// before starting what logs: its cleanup, registered first, runs after the
// components' shutdowns, and from then on lines are dropped, since a
// library's goroutine (memberlist's prober) can still log after a shutdown
// and testing panics on a Log after its test.
func New(t testing.TB, level slog.Level) *slog.Logger {
	w := &writer{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type writer struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *writer) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}
