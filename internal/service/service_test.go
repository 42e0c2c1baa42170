package service

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStopAllInReverseOrder: StopAll stops the services in the reverse of
// their start order, each after the one started after it has returned.
func TestStopAllInReverseOrder(t *testing.T) {
	s := NewSet(slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var stopped []string
	for _, name := range []string{"a", "b", "c"} {
		s.Start(name, func(stop <-chan struct{}) {
			<-stop
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
		})
	}
	var names []string
	for _, sv := range s.List() {
		names = append(names, sv.Name())
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("listed %v, want a b c", names)
	}
	s.StopAll()
	if !slices.Equal(stopped, []string{"c", "b", "a"}) {
		t.Fatalf("stopped %v, want c b a", stopped)
	}
	for _, sv := range s.List() {
		select {
		case <-sv.Done():
		default:
			t.Errorf("%s runs after StopAll", sv.Name())
		}
	}
	var none *Set
	none.StopAll()
}

// TestEvery: Every ticks until either of its channels closes.
func TestEvery(t *testing.T) {
	for _, which := range []string{"stop", "also"} {
		stop, also := make(chan struct{}), make(chan struct{})
		var ticks atomic.Int32
		done := make(chan struct{})
		go func() {
			defer close(done)
			Every(stop, also, time.Millisecond, func() { ticks.Add(1) })
		}()
		for ticks.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		if which == "stop" {
			close(stop)
		} else {
			close(also)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Every still runs after %s closed", which)
		}
	}
}
