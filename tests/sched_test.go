package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
)

// TestSchedRunSurvivesKills runs a statement job on a 3-zone × 3-node
// cluster of real processes, built with fault injection so that a third of
// the zones' due-user reads come back one user short (flaky-due), under a
// window of two tasks at a time. Mid-run it kills -9 the scheduler's leader,
// then a worker chosen by the seed. The run must complete, and against the
// zones' own data (linearizable reads of bills and outboxes) every user with
// a bill for the cycle has exactly one statement, and nobody else has one.
func TestSchedRunSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 9 real processes")
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 5))
	bin := cluster.Binary(t, "faultinject")
	c := cluster.Require(t, cluster.Config{
		Binary: bin, Zones: zoneNames, NodesPerZone: 3, RequestTimeout: 3 * time.Second,
		ServerArgs: []string{"--inject", "flaky-due", "--sched-lease-ttl", "3s", "--sched-slots", "2"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(30),
		client.WithBackoff(50*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const users, due = 400, 360 // users below due pay, so they have a bill
	var batch []client.BatchPayment
	for u := uint64(0); u < users; u++ {
		if _, err := cl.PutAccount(ctx, u, 100_000); err != nil {
			t.Fatalf("account %d: %v", u, err)
		}
		if u < due {
			batch = append(batch, client.BatchPayment{User: u, Key: "s", Amount: 1000 + int64(u), Merchant: "m"})
		}
	}
	if _, err := cl.PayBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	cycle := time.Now().UTC().Format("200601")
	waitUntil(ctx, t, "every payment posted into a bill", func() bool {
		for u := uint64(0); u < due; u += 7 {
			if b, err := cl.GetBill(ctx, u, cycle); err != nil || b.Principal != 1000+int64(u) {
				return false
			}
		}
		return true
	})
	if _, err := cl.SetConfig(ctx, "sched/window/notify", "00:00-24:00=2", 0); err != nil {
		t.Fatal(err)
	}

	run, _, err := cl.StartRun(ctx, "statement", cycle)
	if err != nil {
		t.Fatal(err)
	}
	progress := func(min int64) *client.Run {
		var last *client.Run
		waitUntil(ctx, t, fmt.Sprintf("run %d past %d users", run.ID, min), func() bool {
			r, err := cl.GetRun(ctx, run.ID)
			if err == nil {
				last = r
			}
			return err == nil && (r.UsersDone > min || r.State != "running")
		})
		return last
	}
	r := progress(30)
	leader := schedLeader(ctx, t, c)
	t.Logf("kill -9 the scheduler leader %s at %d/%d users (%d ranges generated)", leader.ID, r.UsersDone, r.UsersTotal, r.Generated)
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	r = progress(r.UsersDone + 60)
	// The worker to kill: of another zone than the first victim, and not a
	// meta voter (two of three voters down would stop the meta group, and
	// the scheduler with it — not the fault this test is about).
	voters, err := c.MetaVoters(ctx, c.Up())
	if err != nil {
		t.Fatal(err)
	}
	var workers []*cluster.Node
	for _, n := range c.Nodes {
		if n.Running() && n.Zone != leader.Zone && !slices.Contains(voters, n) {
			workers = append(workers, n)
		}
	}
	victim := workers[rng.IntN(len(workers))]
	t.Logf("kill -9 worker %s at %d/%d users", victim.ID, r.UsersDone, r.UsersTotal)
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	if r.State != "running" {
		t.Log("the run ended before the worker was killed")
	}
	last := time.Now()
	waitUntil(ctx, t, "the run to end", func() bool {
		r, err = cl.GetRun(ctx, run.ID)
		if time.Since(last) > 10*time.Second {
			t.Logf("run: %+v %v", r, err)
			last = time.Now()
		}
		return err == nil && r.State != "running"
	})
	t.Logf("run: %+v", r)
	if r.State != "done" || r.UsersDone != due || r.UsersTotal != due || r.TasksDone != r.TasksTotal {
		t.Fatalf("run after the kills: %+v", r)
	}
	if r.GenFailures == 0 {
		t.Errorf("flaky-due cut a third of the reads short, yet no generation attempt failed: %+v", r)
	}
	for u := uint64(0); u < users; u++ {
		var list []client.Notification
		waitUntil(ctx, t, fmt.Sprintf("user %d's outbox", u), func() bool {
			list, err = cl.Notifications(ctx, u)
			return err == nil
		})
		_, berr := cl.GetBill(ctx, u, cycle)
		n := 0
		for _, x := range list {
			if x.Job == "statement" && x.Cycle == cycle {
				n++
			}
		}
		if hasBill := berr == nil; (hasBill && n != 1) || (!hasBill && n != 0) {
			t.Fatalf("user %d (bill: %v) has %d statements for %s", u, berr == nil, n, cycle)
		}
	}

	// Then, on the cluster with two nodes down, a reminder run and an
	// auto-debit run: one reminder per due user, and each due bill repaid
	// once, by the auto-debit's key, to zero.
	for _, job := range []string{"reminder", "autodebit"} {
		jr, _, err := cl.StartRun(ctx, job, cycle)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(ctx, t, job+" run to end", func() bool {
			r, err = cl.GetRun(ctx, jr.ID)
			return err == nil && r.State != "running"
		})
		if r.State != "done" || r.UsersDone != due {
			t.Fatalf("%s run: %+v", job, r)
		}
	}
	for u := uint64(0); u < users; u++ {
		list, err := cl.Notifications(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range list {
			if x.Job == "reminder" {
				n++
			}
		}
		b, berr := cl.GetBill(ctx, u, cycle)
		a, aerr := cl.GetAccount(ctx, u)
		switch {
		case aerr != nil:
			t.Fatal(aerr)
		case berr != nil:
			if n != 0 || a.Repaid != 0 {
				t.Fatalf("user %d without a bill: %d reminders, repaid %d", u, n, a.Repaid)
			}
		case n != 1 || b.Outstanding != 0 || a.Repaid != 1000+int64(u):
			t.Fatalf("user %d: %d reminders, bill %+v, repaid %d (want one reminder and one debit of %d)", u, n, b, a.Repaid, 1000+u)
		}
		if berr == nil {
			if rp, err := cl.GetRepayment(ctx, u, fmt.Sprintf("autodebit-%s-%d", cycle, u)); err != nil || rp.Amount != 1000+int64(u) {
				t.Fatalf("user %d's auto-debit repayment: %+v %v", u, rp, err)
			}
		}
	}
}

// schedLeader is the node whose rzone_sched_leader gauge is 1.
func schedLeader(ctx context.Context, t *testing.T, c *cluster.Cluster) *cluster.Node {
	t.Helper()
	var leader *cluster.Node
	waitUntil(ctx, t, "a scheduler leader", func() bool {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			if m, err := n.Metrics(ctx); err == nil {
				if v, ok := m.Value("rzone_sched_leader"); ok && v == 1 {
					leader = n
					return true
				}
			}
		}
		return false
	})
	return leader
}

// waitUntil polls cond every 100ms until it holds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
