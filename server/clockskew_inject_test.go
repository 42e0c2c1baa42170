//go:build faultinject

package server

import (
	"context"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/clock"
)

// TestPromotionWaitsOutLeaseUnderClockSkew: zone A's leases are granted by
// meta leaders whose wall clock runs twice the lease duration behind; A is
// failed over while it is alive and holds a lease, and the promotion is
// decided with a correct wall clock, as when meta leadership moves from a
// skewed node to a sound one. The shards must not move to the failover
// store before A's leader, counting on its own monotonic clock, holds its
// lease no more. A promotion that compares the lease's recorded end (the
// skewed granter's wall clock) with the decider's wall clock moves them at
// once, while A may still accept writes.
func TestPromotionWaitsOutLeaseUnderClockSkew(t *testing.T) {
	const lease = 4 * time.Second
	// Every node of this process shares the clock: it is skewed while the
	// leases are granted, and sound when the promotion is decided.
	clock.Skew(-2 * lease)
	t.Cleanup(func() { clock.Skew(0) })
	mc := setupZonesWith(t, []string{"A", "B", "C"}, 1, func(c *Config) {
		c.LeaseDuration = lease
		c.LeaseRenew = 250 * time.Millisecond
	})
	a := mc.nodes[0]
	hA := a.zones.Own()
	waitFor(t, 10*time.Second, "zone A's leader holds a lease", func() bool { return hA.Replica().IsLeader() && a.zones.LeaseValid(hA) })

	admin, _ := client.New(mc.apis[1:], client.WithMaxRetries(20))
	failed := make(chan error, 1)
	go func() {
		_, err := admin.FailoverZone(context.Background(), "A", 30*time.Second, client.Forced())
		failed <- err
	}()
	observer := mc.nodes[1]
	phase := func() string { z, _ := observer.metaFSM.State().ZoneOf("A"); return z.PhaseOf() }
	waitFor(t, 10*time.Second, "zone A failing over", func() bool { return phase() != fsm.PhaseNormal })
	clock.Skew(0)
	skewed := time.Now()
	deadline := time.Now().Add(30 * time.Second * slow)
	for phase() != fsm.PhaseFailover {
		if time.Now().After(deadline) {
			t.Fatalf("zone A not failed over after 30s: phase %s", phase())
		}
		time.Sleep(2 * time.Millisecond)
	}
	left := time.Duration(hA.Lease().Until() - monoNow())
	t.Logf("zone A failed over %v after the clock was set right; A's leader's lease then had %v left", time.Since(skewed), left)
	if left > 0 {
		t.Fatalf("zone A's shards moved to its failover store while A's leader still held its lease for %v more: both could accept writes", left)
	}
	if err := <-failed; err != nil {
		t.Fatalf("failover: %v", err)
	}
}
