package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/testlog"
)

// testLogger returns a logger that writes to t.Log and goes quiet once the
// test ends, since memberlist's goroutines may still log during teardown.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return testlog.New(t, slog.LevelInfo)
}

// waitFor polls cond every 10ms until it holds, failing the test after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testMeta is the Meta of test node id.
func testMeta(id string) Meta {
	return Meta{
		NodeID:   id,
		Zone:     "zone-" + id[:1],
		Roles:    []string{"voter:zone-" + id[:1], "worker"},
		HTTPAddr: "127.0.0.1:7" + fmt.Sprint(len(id)) + "00",
		RaftAddr: "127.0.0.1:8" + fmt.Sprint(len(id)) + "00",
		Capacity: len(id) + 3,
	}
}

// startNode starts a node named id with the Fast preset on 127.0.0.1 and a
// port of its own, joining seeds; edit may change the config. The node is
// shut down when the test ends.
func startNode(t *testing.T, logger *slog.Logger, id string, seeds []string, edit func(*Config)) *Gossip {
	t.Helper()
	cfg := Fast()
	cfg.Meta = testMeta(id)
	cfg.Seeds = seeds
	cfg.Logger = logger
	if edit != nil {
		edit(&cfg)
	}
	g, err := Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := g.Shutdown(); err != nil {
			t.Errorf("shutdown %s: %v", id, err)
		}
	})
	return g
}

// startCluster starts nodes with the given ids, each joining the first, and
// waits until every node sees every other alive.
func startCluster(t *testing.T, ids []string, edit func(*Config)) []*Gossip {
	t.Helper()
	logger := testLogger(t)
	nodes := []*Gossip{startNode(t, logger, ids[0], nil, edit)}
	for _, id := range ids[1:] {
		nodes = append(nodes, startNode(t, logger, id, []string{nodes[0].Addr()}, edit))
	}
	waitFor(t, 5*time.Second, "every node to see every node alive", func() bool {
		for _, g := range nodes {
			if len(g.Alive()) != len(ids) {
				return false
			}
		}
		return true
	})
	return nodes
}

// stateOf returns the state in which g sees the member id, or "" if g does
// not know it.
func stateOf(g *Gossip, id string) State {
	for _, m := range g.Members() {
		if m.NodeID == id {
			return m.State
		}
	}
	return ""
}

// memberOf returns g's view of the member id.
func memberOf(t *testing.T, g *Gossip, id string) Member {
	t.Helper()
	for _, m := range g.Members() {
		if m.NodeID == id {
			return m
		}
	}
	t.Fatalf("%s does not know %s", g.cfg.Meta.NodeID, id)
	return Member{}
}

// waitEvent reads g's events until one of kind about id arrives.
func waitEvent(t *testing.T, g *Gossip, kind EventKind, id string, timeout time.Duration) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		select {
		case ev, ok := <-g.Events():
			if !ok {
				t.Fatalf("events of %s closed while waiting for %s of %s", g.cfg.Meta.NodeID, kind, id)
			}
			if ev.Kind == kind && ev.Member.NodeID == id {
				return ev
			}
		case <-ctx.Done():
			t.Fatalf("after %s: %s saw no %s event for %s", timeout, g.cfg.Meta.NodeID, kind, id)
		}
	}
}
