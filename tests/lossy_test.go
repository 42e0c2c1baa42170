package tests

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
)

// TestLossyNetwork runs payers with retries (same key) on a real 3-node
// zone while every link between its nodes drops 15% of its packets
// (iptables' statistic match: this kernel has no tc netem, so a slow
// network is shown as a lossy one), and checks that payments keep being
// acknowledged through the loss, that every acknowledged payment is in the
// final state once, and the money identity of every account.
func TestLossyNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	if err := cluster.PartitionSupport(); err != nil {
		t.Skip(err)
	}
	seed := testSeed(t)
	c := cluster.Require(t, cluster.Config{RequestTimeout: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin, _ := c.Client(client.WithMaxRetries(30), client.WithBackoff(50*time.Millisecond, time.Second))
	var users []uint64
	for u := uint64(1); u <= 20; u++ {
		if _, err := admin.PutAccount(ctx, u, 10_000_000); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	h := newFailoverHistory(c)
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.payer(load, c.HTTPAddrs(), users, seed+int64(w), w)
		}()
	}
	time.Sleep(2 * time.Second)
	var groups [][]*cluster.Node
	for _, n := range c.Nodes {
		groups = append(groups, []*cluster.Node{n})
	}
	lossStart := time.Now()
	if err := c.Lossy(0.15, groups...); err != nil {
		t.Fatal(err)
	}
	t.Logf("nemesis: 15%% packet loss on every link between the zone's nodes at +%s", lossStart.Sub(h.start).Round(time.Millisecond))
	time.Sleep(8 * time.Second)
	lossEnd := time.Now()
	dropped, err := c.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nemesis: %d packets dropped by the loss rules", dropped)
	if dropped == 0 {
		t.Fatal("the loss rules dropped nothing: the fault was not applied")
	}
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	t.Logf("nemesis: loss healed at +%s", lossEnd.Sub(h.start).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	stopLoad()
	wg.Wait()

	pays, _, _ := h.summary()
	during, before := 0, 0
	for _, p := range pays {
		switch {
		case p.send.After(lossStart) && p.recv.Before(lossEnd):
			during++
		case p.recv.Before(lossStart):
			before++
		}
	}
	t.Logf("payments acknowledged: %d in all, %d in the 2 s before the loss, %d sent and acknowledged during the 8 s of loss", len(pays), before, during)
	if during == 0 {
		t.Fatal("no payment was acknowledged through the lossy network")
	}
	final, _ := c.Client(client.WithMaxRetries(40), client.WithBackoff(50*time.Millisecond, time.Second))
	byUser := map[uint64]map[string]int64{}
	for _, p := range pays {
		if byUser[p.user] == nil {
			byUser[p.user] = map[string]int64{}
		}
		byUser[p.user][p.key] = p.amount
	}
	for _, u := range users {
		a, err := final.GetAccount(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := final.ListPayments(ctx, u, client.ListOptions{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]int64{}
		var accepted int64
		for _, p := range pl.Payments {
			if p.Status != "declined" {
				have[p.Key] = p.Amount
				accepted += p.Amount
			}
		}
		for k, amt := range byUser[u] {
			if have[k] != amt {
				t.Errorf("acknowledged payment %d/%s (%d) missing or changed: %d", u, k, amt, have[k])
			}
		}
		if pl.Next != "" || accepted != a.Accepted || a.Used+a.Pending != a.Accepted-a.Repaid {
			t.Errorf("account %d breaks the money identity: %+v, payments add up to %d", u, a, accepted)
		}
	}
}
