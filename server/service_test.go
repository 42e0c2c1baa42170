package server

import (
	"context"
	"github.com/rzonedb/rzone/internal/testnet"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// serviceLog records the "service started" and "service stopped" lines of
// a node's log, in order.
type serviceLog struct {
	mu      *sync.Mutex
	started *[]string
	stopped *[]string
}

func newServiceLog() serviceLog {
	return serviceLog{mu: &sync.Mutex{}, started: new([]string), stopped: new([]string)}
}

func (h serviceLog) Enabled(context.Context, slog.Level) bool { return true }

func (h serviceLog) Handle(_ context.Context, r slog.Record) error {
	var list *[]string
	switch r.Message {
	case "service started":
		list = h.started
	case "service stopped":
		list = h.stopped
	default:
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "service" {
			h.mu.Lock()
			*list = append(*list, a.Value.String())
			h.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

func (h serviceLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h serviceLog) WithGroup(string) slog.Handler      { return h }

func (h serviceLog) lists() (started, stopped []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.started), slices.Clone(*h.stopped)
}

// checkServices starts a node from c, stops it, and checks that exactly
// the services want started, in that order, that Shutdown stopped each in
// the reverse order, and that no service's run outlived Shutdown.
func checkServices(t *testing.T, c Config, want []string, ready func(*Node) bool) {
	t.Helper()
	h := newServiceLog()
	c.Logger = slog.New(h)
	nd, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			nd.Shutdown(context.Background())
		}
	})
	waitFor(t, 15*time.Second, "node ready", func() bool { return ready(nd) })
	time.Sleep(300 * time.Millisecond) // the loops tick (converge's every 250 ms)
	var names []string
	for _, s := range nd.services.List() {
		names = append(names, s.Name())
	}
	if !slices.Equal(names, want) {
		t.Fatalf("registered services %v, want %v", names, want)
	}
	if err := nd.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped = true
	for _, s := range nd.services.List() {
		select {
		case <-s.Done():
		default:
			t.Errorf("service %s still runs after Shutdown returned", s.Name())
		}
	}
	started, stoppedList := h.lists()
	if !slices.Equal(started, want) {
		t.Errorf("log: services started %v, want %v", started, want)
	}
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if !slices.Equal(stoppedList, rev) {
		t.Errorf("log: services stopped %v, want %v (the reverse of their start)", stoppedList, rev)
	}
}

func TestShutdownStopsServicesInReverseOrder(t *testing.T) {
	addrs := testnet.Addrs(t, 2)
	c := fastConfig("n1", t.TempDir(), addrs[0], addrs[1], nil)
	c.Bootstrap = true
	checkServices(t, c, []string{"post", "insecure-warning", "outbox", "register-leader"}, (*Node).IsLeader)
}

func TestShutdownStopsClusterServicesInReverseOrder(t *testing.T) {
	addrs := testnet.Addrs(t, 3)
	c := fastConfig("a1", filepath.Join(t.TempDir(), "a1"), addrs[0], addrs[1], nil)
	c.Zone = "A"
	c.GossipAddr = addrs[2]
	c.GossipFast = true
	want := []string{"post", "insecure-warning", "outbox",
		"lease", "converge", "guard", "failover", "shard-moves", "scheduler"}
	checkServices(t, c, want, func(nd *Node) bool { return nd.meta != nil && nd.gossip != nil })
}
