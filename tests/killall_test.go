package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// TestKillEveryNodeKeepsAcknowledgedPayments kill -9s every node of a
// 3-process zone at once under a full closed-loop payment load, restarts
// them all, and checks: every acknowledged payment is on every replica
// exactly once with the index it was acknowledged at, money adds up on
// every replica, and every replica reaches the same state digest at the
// same applied index. A node's state file lags its log (it is committed in
// batches); this is the test that the log replay after a crash of every
// replica loses nothing and diverges nowhere.
func TestKillEveryNodeKeepsAcknowledgedPayments(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	seed := testSeed(t)
	// Snapshots every few hundred entries, checked every second, with a short
	// log behind them: the kill finds the log compacted past earlier
	// snapshots, and the replay after the restart starts from a snapshot's
	// index with the state file ahead of it.
	c := cluster.Require(t, cluster.Config{RequestTimeout: 3 * time.Second,
		ServerArgs: []string{"--snapshot-threshold", "256", "--snapshot-interval", "1s", "--trailing-logs", "64"}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	const (
		accounts = 16
		payers   = 32
		load     = 12 * time.Second
		killAt   = 4 * time.Second
		downFor  = 2 * time.Second
		userBase = 600_000
	)
	admin, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(10))
	if err != nil {
		t.Fatal(err)
	}
	rec := history.NewRecorder(nil)
	users := recordedAccounts(ctx, t, admin, rec, userBase, accounts)

	stop := time.Now().Add(load)
	var acked, beforeKill atomic.Int64
	var killed atomic.Bool
	var wg sync.WaitGroup
	for p := 0; p < payers; p++ {
		cl, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(p)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop) && i < 100_000; i++ {
				u := users[rng.IntN(len(users))]
				req := client.PayRequest{Key: fmt.Sprintf("ka-%d-%d", p, i), Amount: 1 + rng.Int64N(1000), Merchant: "kill-all"}
				if ok, _ := payWithRetries(ctx, cl, rec, p, u, req, false); ok {
					acked.Add(1)
					if !killed.Load() {
						beforeKill.Add(1)
					}
				}
			}
		}()
	}

	time.Sleep(killAt)
	snaps := 0.0
	for _, n := range c.Nodes {
		m, err := n.Metrics(ctx)
		if err != nil {
			t.Fatalf("metrics of %s: %v", n.ID, err)
		}
		snaps += m.Sum("rzone_raft_snapshots_total", "outcome=ok")
	}
	if snaps == 0 {
		t.Fatal("no replica took a snapshot before the kill: the replay from a snapshot's index was not tried")
	}
	at := acked.Load()
	for _, n := range c.Nodes {
		if err := n.Kill(); err != nil {
			t.Fatalf("kill -9 %s: %v", n.ID, err)
		}
	}
	killed.Store(true)
	t.Logf("injected: kill -9 of all %d nodes at once, with %d payments acknowledged, %d payers running, %.0f snapshots taken", len(c.Nodes), at, payers, snaps)
	time.Sleep(downFor)
	for _, n := range c.Nodes {
		if err := n.Restart(ctx); err != nil {
			t.Fatalf("restart %s: %v", n.ID, err)
		}
	}
	t.Logf("restarted every node")
	wg.Wait()
	t.Logf("%d payments acknowledged, %d of them before the kill", acked.Load(), beforeKill.Load())
	if beforeKill.Load() < 100 {
		t.Fatalf("only %d payments acknowledged before the kill: not a load", beforeKill.Load())
	}
	if acked.Load() == beforeKill.Load() {
		t.Error("no payment was acknowledged after every node restarted")
	}

	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	applied, err := c.WaitQuiescent(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	digests := zoneDigests(ctx, t, c)
	var first string
	for node, d := range digests {
		if d.AppliedIndex != applied {
			t.Errorf("%s: applied %d, the zone %d", node, d.AppliedIndex, applied)
		}
		if first == "" {
			first = d.Digest
		}
		if d.Digest != first {
			t.Errorf("replicas diverged after the crash of every node: %v", digests)
			break
		}
	}
	t.Logf("checked: %d replicas at applied index %d with state digest %.16s…", len(digests), applied, first)
	for _, n := range c.Nodes {
		readFinal(ctx, t, admin, rec, n, users)
	}
	checkPaymentsAndMoney(t, rec)
}

// zoneDigests reads, from every node, its zone replica's applied index and
// state digest (GET /v1/internal/replicas?digest=1, with the harness's
// node certificate).
func zoneDigests(ctx context.Context, t *testing.T, c *cluster.Cluster) map[string]api.ReplicaState {
	t.Helper()
	sec := c.Security()
	hc := sec.HTTPClient(10 * time.Second)
	out := map[string]api.ReplicaState{}
	for _, n := range c.Nodes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, sec.Scheme()+"://"+n.HTTPAddr+"/v1/internal/replicas?digest=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		sec.Authorize(req)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("replicas of %s: %v", n.ID, err)
		}
		var rs []api.ReplicaState
		err = json.NewDecoder(resp.Body).Decode(&rs)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("replicas of %s: HTTP %d, %v", n.ID, resp.StatusCode, err)
		}
		for _, r := range rs {
			if len(r.Group) > 5 && r.Group[:5] == "zone/" {
				if r.Digest == "" {
					t.Fatalf("%s: no digest for %s", n.ID, r.Group)
				}
				out[n.ID] = r
			}
		}
	}
	if len(out) != len(c.Nodes) {
		t.Fatalf("zone replicas found on %d of %d nodes: %v", len(out), len(c.Nodes), out)
	}
	return out
}
