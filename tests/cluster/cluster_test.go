package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFaultsOnARealZone drives each fault of the harness once against a
// 3-node zone: kill -9 and restart of the leader, pause and resume of a
// follower, and (as root) a partition that cuts off the leader, which must
// lose its leadership to the other two.
func TestFaultsOnARealZone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := Require(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %s", leader.ID)
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	next, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next == leader {
		t.Fatalf("killed leader %s still leads", leader.ID)
	}
	if err := leader.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}

	var follower *Node
	for _, n := range c.Nodes {
		if n != next {
			follower = n
			break
		}
	}
	if err := follower.Pause(); err != nil {
		t.Fatal(err)
	}
	if !follower.Paused() {
		t.Fatal("paused node not marked paused")
	}
	if err := follower.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}

	if err := c.CanPartition(); err != nil {
		if !errors.Is(err, ErrNoPartitions) {
			t.Fatalf("CanPartition: %v", err)
		}
		t.Logf("partition part skipped: %v", err)
		return
	}
	if err := c.Isolate(next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a new leader among the majority", func() bool {
		l, err := c.Leader(ctx)
		return err == nil && l != next
	})
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
