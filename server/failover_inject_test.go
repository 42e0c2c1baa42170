//go:build faultinject

package server

import (
	"context"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/inject"
)

// TestDropGuardMarkIsCaught plants the drop-guard-mark bug (a zone leader
// writes without marking the account in its backup zone) and shows that a
// failover then misses the account and reconciliation catches it: the
// account is off the blacklist although zone A holds a payment the
// failover store lacks, so the merge keeps A's state, adds the store's
// payments, and names the account as a violation of the guard invariant.
// TestFailoverHardCaseAndReconcile runs the same steps on the normal build
// and finds none.
func TestDropGuardMarkIsCaught(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 3)
	// After the start: a node's start sets the faults of its config.
	if err := inject.Set(inject.DropGuardMark); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inject.Set("") })
	ctx := context.Background()
	cl, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(80), client.WithTimeout(3*time.Second))
	st := mc.nodes[0].metaFSM.State()
	var hot uint64
	for u := uint64(0); ; u++ {
		if z, _ := st.Route(u); z == "A" {
			hot = u
			break
		}
	}
	if _, err := cl.PutAccount(ctx, hot, 10_000); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Pay(ctx, hot, client.PayRequest{Key: "k1", Amount: 100, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second*slow, "followers of A caught up", func() bool {
		a, err := cl.GetAccount(ctx, hot, client.Stale(), client.At(mc.apis[3]))
		return err == nil && a.Accepted == 100
	})
	mc.holdFollowers("A", 3, 6)
	if _, err := cl.Pay(ctx, hot, client.PayRequest{Key: "k2", Amount: 50, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
	if m := mc.marksIn("B", "A"); len(m) != 0 {
		t.Fatalf("marks %v with the guard switched off", m)
	}
	mc.loseZone(0, 3)
	mc.releaseFollowers("A", 3, 6)
	admin, _ := client.New(mc.apis[3:], client.WithMaxRetries(20))
	zs, err := admin.FailoverZone(ctx, "A", 30*time.Second, client.Forced())
	if err != nil || zs.Failover.Blacklist != 0 {
		t.Fatalf("failover: %+v %v (want an empty blacklist: nothing was marked)", zs, err)
	}
	cl2, _ := client.New(mc.apis[3:], client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(100), client.WithTimeout(3*time.Second))
	if _, err := cl2.Pay(ctx, hot, client.PayRequest{Key: "k3", Amount: 30, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
	mc.restartZone(0, 3)
	inject.Set(inject.DropGuardMark) // the restarted nodes reset it
	zs, err = admin.RecoverZone(ctx, "A", 60*time.Second)
	if err != nil || zs.Phase != "normal" {
		t.Fatalf("recover: %+v %v", zs, err)
	}
	rep := zs.Failover.Report
	if len(rep.Violations) != 1 || rep.Violations[0] != hot {
		t.Fatalf("violations %v, want [%d]: the planted bug went unnoticed (report %+v)", rep.Violations, hot, rep)
	}
	t.Logf("caught: account %d had a write in A that the failover store lacked and was not blacklisted (report %+v)", hot, rep)
	home, _ := client.New(mc.apis, client.WithMaxRetries(100), client.WithBackoff(20*time.Millisecond, 300*time.Millisecond))
	if a, err := home.GetAccount(ctx, hot); err != nil || a.Accepted != 180 {
		t.Fatalf("account after the merge: %+v %v (want k1, k2 and k3 kept)", a, err)
	}
}

// TestUnmarkedFailingOverIsCaught plants the unmarked-failing-over bug (a
// zone leader stops marking once its zone is failing over, although its
// lease still lets it acknowledge writes) and shows that the failover of a
// live zone then loses acknowledged writes, which failoverLive finds.
// TestFailoverOfLiveZoneKeepsAcknowledgedWrites runs the same steps on the
// normal build and loses none.
func TestUnmarkedFailingOverIsCaught(t *testing.T) {
	t.Cleanup(func() { inject.Set("") })
	lost := failoverLive(t, func() {
		// After the start: a node's start sets the faults of its config.
		if err := inject.Set(inject.UnmarkedFailingOver); err != nil {
			t.Fatal(err)
		}
	})
	if len(lost) == 0 {
		t.Fatal("the planted bug went unnoticed: no acknowledged write was lost")
	}
	t.Logf("caught: %v", lost)
}
