package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/scheduler"
	schedrun "github.com/rzonedb/rzone/scheduler/run"
)

// schedTune makes the scheduler quick for tests: short leases and ticks,
// tiny batches and tasks so that a run of a few hundred users has many.
func schedTune(c *Config) {
	c.Sched = schedrun.Config{Slots: 2, LeaseTTL: 2 * time.Second, Interval: 50 * time.Millisecond, BatchUsers: 2,
		Slicing: scheduler.DefaultSmartConfig()}
	c.Sched.Slicing.MinUsers = 2
}

// dueUsers loads the bill owners of cycle from the zones' own state: each
// zone's leader replica, shard by shard.
func (mc *multiCluster) dueUsers(t *testing.T, cycle uint32) map[uint64]bool {
	t.Helper()
	var due map[uint64]bool
	waitFor(t, 10*time.Second, "a leader in every zone", func() bool {
		due = mc.tryDueUsers(t, cycle)
		return due != nil
	})
	return due
}

// tryDueUsers is dueUsers, or nil while a zone has no caught-up leader.
func (mc *multiCluster) tryDueUsers(t *testing.T, cycle uint32) map[uint64]bool {
	t.Helper()
	due := map[uint64]bool{}
	shards := 0
	for _, nd := range mc.nodes {
		h := nd.zones.Own()
		if nd.stopping.Load() || h == nil || !h.Replica().IsLeader() || h.Replica().Linearizable(context.Background(), 2*time.Second) != nil {
			continue
		}
		owned, _, _ := h.FSM().Shards()
		shards += len(owned)
		for shard := range owned {
			users, count, err := h.FSM().DuePage(shard, cycle, 0, ^uint64(0), 1<<30)
			if err != nil || int64(len(users)) != count {
				t.Fatalf("zone %s shard %d: %d users, count %d, %v", h.Name(), shard, len(users), count, err)
			}
			for _, u := range users {
				due[u] = true
			}
		}
	}
	if shards != fsm.NumShards {
		return nil
	}
	return due
}

// zoneFSM returns the state machine of user's zone on a live leader that
// has caught up with its log (waiting for one: after a kill, a zone may be
// electing).
func (mc *multiCluster) zoneFSM(t *testing.T, user uint64) *fsm.FSM {
	t.Helper()
	var f *fsm.FSM
	waitFor(t, 10*time.Second, fmt.Sprintf("a leader of user %d's zone", user), func() bool {
		for _, nd := range mc.nodes {
			if nd.stopping.Load() {
				continue
			}
			z, _ := nd.metaFSM.State().Route(user)
			if h := nd.zones.Own(); h != nil && h.Name() == z && h.Replica().IsLeader() &&
				h.Replica().Linearizable(context.Background(), 2*time.Second) == nil {
				f = h.FSM()
				return true
			}
		}
		return false
	})
	return f
}

// checkOncePerDueUser checks against the zones' own data that every user
// with a bill for cycle has exactly one notification of job for it, and
// that nobody without a bill has one.
func (mc *multiCluster) checkOncePerDueUser(t *testing.T, users int, job string, cycle uint32) int {
	t.Helper()
	due := mc.dueUsers(t, cycle)
	for u := uint64(0); u < uint64(users); u++ {
		list, err := mc.zoneFSM(t, u).Notifications(u)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range list {
			if x.Job == job && x.Cycle == api.FormatCycle(cycle) {
				n++
			}
		}
		if want := map[bool]int{true: 1, false: 0}[due[u]]; n != want {
			t.Fatalf("user %d (due %v) has %d %s notifications for %d, want %d", u, due[u], n, job, cycle, want)
		}
	}
	return len(due)
}

func isMetaVoter(nd *Node) bool {
	info, _ := nd.metaFSM.State().Node(nd.cfg.NodeID)
	return info.MetaVoter
}

func (mc *multiCluster) metaLeader() int {
	for i, nd := range mc.nodes {
		if !nd.stopping.Load() && nd.meta.IsLeader() {
			return i
		}
	}
	return -1
}

func waitRun(t *testing.T, c *client.Client, id uint64, d time.Duration, cond func(*client.Run) bool) *client.Run {
	t.Helper()
	var last *client.Run
	waitFor(t, d, fmt.Sprintf("run %d", id), func() bool {
		r, err := c.GetRun(context.Background(), id)
		if err == nil {
			last = r
		}
		return err == nil && cond(r)
	})
	return last
}

// TestSchedStatementRunSurvivesMetaLeaderAndWorkerLoss runs a statement job
// over a few hundred users across three zones under a concurrency window of
// two tasks, kills the scheduler's (meta) leader and then another worker
// node mid-run, and checks against the zones' own data that every due user
// got exactly one statement and nobody was left out. A reminder run and a
// second statement run of the same cycle follow: one reminder each, still
// one statement each.
func TestSchedStatementRunSurvivesMetaLeaderAndWorkerLoss(t *testing.T) {
	mc := setupZonesWith(t, []string{"A", "B", "C"}, 3, schedTune)
	ctx := context.Background()
	c, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(60))
	const users = 330 // 0..299 pay (a bill is due), 300..329 do not
	var batch []client.BatchPayment
	for u := uint64(0); u < users; u++ {
		if _, err := c.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatalf("put account %d: %v", u, err)
		}
		if u < 300 {
			batch = append(batch, client.BatchPayment{User: u, Key: "p", Amount: 100 + int64(u), Merchant: "m"})
		}
	}
	if res, err := c.PayBatch(ctx, batch); err != nil || len(res) != 300 {
		t.Fatalf("pay: %v", err)
	}
	cycleText := time.Now().UTC().Format("200601")
	cycle, _ := api.ParseCycle(cycleText)
	waitFor(t, 20*time.Second, "every payment posted into a bill", func() bool { return len(mc.tryDueUsers(t, cycle)) == 300 })

	// At most two tasks at a time, from the config store's window table.
	if _, err := c.SetConfig(ctx, schedrun.ConfigLimitPrefix+"notify", `{"default": 2}`, 0); err != nil {
		t.Fatal(err)
	}
	run, created, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil || !created {
		t.Fatalf("start: %+v %v %v", run, created, err)
	}
	if again, created, err := c.StartRun(ctx, "statement", cycleText); err != nil || created || again.ID != run.ID {
		t.Fatalf("a second start while the run goes on: %+v %v %v", again, created, err)
	}
	r := waitRun(t, c, run.ID, 30*time.Second, func(r *client.Run) bool { return r.UsersDone > 20 })
	if r.Limit > 2 || r.TasksLeased > 2 {
		t.Fatalf("the window allows 2 tasks: %+v", r)
	}
	old := mc.metaLeader()
	t.Logf("killing the meta leader %s at %d of %d users", mc.cfgs[old].NodeID, r.UsersDone, r.UsersTotal)
	mc.nodes[old].Shutdown(ctx)
	r = waitRun(t, c, run.ID, 30*time.Second, func(x *client.Run) bool { return x.UsersDone > r.UsersDone+20 })
	victim := -1
	for i := range mc.nodes { // a worker of another zone that leads no group and is no meta voter (two voters down stop the meta group)
		if nd := mc.nodes[i]; !nd.stopping.Load() && !nd.meta.IsLeader() && !nd.IsLeader() && mc.cfgs[i].Zone != mc.cfgs[old].Zone &&
			!isMetaVoter(nd) {
			victim = i
			break
		}
	}
	t.Logf("killing worker %s at %d users", mc.cfgs[victim].NodeID, r.UsersDone)
	mc.nodes[victim].Shutdown(ctx)
	r = waitRun(t, c, run.ID, 60*time.Second, func(r *client.Run) bool { return r.State != "running" })
	t.Logf("run: %+v", r)
	if r.State != "done" || r.UsersDone != 300 || r.UsersTotal != 300 || r.Generated != 100 || r.TasksDone != r.TasksTotal {
		t.Fatalf("run after the faults: %+v", r)
	}
	if n := mc.checkOncePerDueUser(t, users, fsm.JobStatement, cycle); n != 300 {
		t.Fatalf("%d due users, want 300", n)
	}
	b, err := c.GetBill(ctx, 7, cycleText)
	if err != nil || b.Statement != 107 || b.StatementAt == "" {
		t.Fatalf("user 7's bill after the statement: %+v %v", b, err)
	}

	// A reminder run, then the statement again: effects stay once per user.
	rem, _, err := c.StartRun(ctx, "reminder", cycleText)
	if err != nil {
		t.Fatal(err)
	}
	again, created, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil || !created || again.ID == run.ID {
		t.Fatalf("a new statement run after the first finished: %+v %v %v", again, created, err)
	}
	for _, id := range []uint64{rem.ID, again.ID} {
		if r := waitRun(t, c, id, 60*time.Second, func(r *client.Run) bool { return r.State != "running" }); r.State != "done" || r.UsersDone != 300 {
			t.Fatalf("run %d: %+v", id, r)
		}
	}
	mc.checkOncePerDueUser(t, users, fsm.JobReminder, cycle)
	mc.checkOncePerDueUser(t, users, fsm.JobStatement, cycle)
	list, err := c.Runs(ctx)
	if err != nil || len(list) != 3 || list[0].ID != again.ID {
		t.Fatalf("runs: %+v %v", list, err)
	}
}

// TestSchedGrayReleaseThenAutodebit: a statement run whose gray window is
// open processes only the whitelist until the window closes, then everyone;
// an auto-debit run then debits each due user's outstanding amount once
// through the bank channel (at most three calls at a time, from the window
// table) and repays it under the key derived from job, cycle and user.
func TestSchedGrayReleaseThenAutodebit(t *testing.T) {
	bank := schedrun.NewSimBank(schedrun.SimConfig{Slots: 3, Latency: 2 * time.Millisecond})
	mc := setupZonesWith(t, []string{"A", "B", "C"}, 1, func(c *Config) {
		schedTune(c)
		c.Sched.Bank = bank
	})
	ctx := context.Background()
	c, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(60))
	const users, due = 60, 50
	var batch []client.BatchPayment
	for u := uint64(0); u < users; u++ {
		if _, err := c.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatal(err)
		}
		if u < due {
			batch = append(batch, client.BatchPayment{User: u, Key: "p", Amount: 200 + int64(u), Merchant: "m"})
		}
	}
	if _, err := c.PayBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	cycleText := time.Now().UTC().Format("200601")
	cycle, _ := api.ParseCycle(cycleText)
	waitFor(t, 20*time.Second, "bills", func() bool { return len(mc.tryDueUsers(t, cycle)) == due })
	if _, err := c.Repay(ctx, 9, client.RepayRequest{Key: "early", Amount: 209}); err != nil { // paid before the debit
		t.Fatal(err)
	}

	// The gray window: from a minute ago to 5 s from now (UTC).
	now := time.Now().UTC()
	windowEnd := now.Add(5 * time.Second)
	whitelist := []uint64{3, 4, 5, 55} // 55 has no bill
	for k, v := range map[string]string{
		fsm.ConfigGrayWhitelist:             "3,4,5,55",
		fsm.ConfigGrayWindow:                now.Add(-time.Minute).Format("15:04:05") + "-" + windowEnd.Format("15:04:05"),
		schedrun.ConfigLimitPrefix + "bank": "00:00-24:00=3",
	} {
		if _, err := c.SetConfig(ctx, k, v, 0); err != nil {
			t.Fatal(err)
		}
	}
	run, _, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil || !run.Gray {
		t.Fatalf("start: %+v %v", run, err)
	}
	statements := func(u uint64) int {
		list, _ := mc.zoneFSM(t, u).Notifications(u)
		return len(list)
	}
	waitFor(t, 10*time.Second, "the whitelist's statements", func() bool {
		return statements(3)+statements(4)+statements(5) == 3
	})
	if time.Now().Add(time.Second).Before(windowEnd) { // judged by log time: keep a margin
		for u := uint64(0); u < users; u++ {
			if !slices.Contains(whitelist, u) && statements(u) != 0 {
				t.Fatalf("user %d, not whitelisted, got a statement inside the gray window", u)
			}
		}
	} else {
		t.Log("the machine was too slow to check inside the gray window")
	}
	r := waitRun(t, c, run.ID, 30*time.Second, func(r *client.Run) bool { return r.State != "running" })
	if r.State != "done" || r.UsersDone != due {
		t.Fatalf("statement run: %+v", r)
	}
	mc.checkOncePerDueUser(t, users, fsm.JobStatement, cycle)

	// Auto-debit: once per due user with something outstanding.
	deb, _, err := c.StartRun(ctx, "autodebit", cycleText)
	if err != nil {
		t.Fatal(err)
	}
	r = waitRun(t, c, deb.ID, 30*time.Second, func(r *client.Run) bool { return r.State != "running" })
	if r.State != "done" || r.UsersDone != due || r.Skipped != 1 {
		t.Fatalf("autodebit run (user 9 had paid): %+v", r)
	}
	for u := uint64(0); u < users; u++ {
		key := schedrun.DebitKey(cycle, u)
		debited, ok := bank.Debited(key)
		b, _ := mc.zoneFSM(t, u).Bill(u, cycle)
		switch {
		case u >= due || u == 9:
			if ok {
				t.Fatalf("user %d (nothing due) was debited %d", u, debited)
			}
		case !ok || debited != 200+int64(u) || b.Outstanding != 0:
			t.Fatalf("user %d: debited %d (%v), bill %+v", u, debited, ok, b)
		}
	}
	// Running it again debits nobody twice: the repayments are found.
	again, _, _ := c.StartRun(ctx, "autodebit", cycleText)
	if r := waitRun(t, c, again.ID, 30*time.Second, func(r *client.Run) bool { return r.State != "running" }); r.State != "done" {
		t.Fatalf("second autodebit run: %+v", r)
	}
	for u := uint64(0); u < due; u++ {
		if rp, err := mc.zoneFSM(t, u).Repayment(u, schedrun.DebitKey(cycle, u)); u != 9 && (err != nil || rp.Amount != 200+int64(u)) {
			t.Fatalf("user %d's auto-debit repayment: %+v %v", u, rp, err)
		}
	}
}

// TestAutodebitNeedsABank: a node with no bank configured refuses to create
// an auto-debit run (invalid_argument, saying why) and still takes the
// other jobs; no run is recorded for the refused one.
func TestAutodebitNeedsABank(t *testing.T) {
	mc := setupZonesWith(t, []string{"A", "B"}, 1, schedTune)
	ctx := context.Background()
	c, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(20))
	_, _, err := c.StartRun(ctx, "autodebit", "202611")
	var ce *client.Error
	if !errors.Is(err, client.ErrInvalidArgument) || !errors.As(err, &ce) || !strings.Contains(ce.Message, "no bank") {
		t.Fatalf("auto-debit run without a bank: %v, want invalid_argument saying no bank is configured", err)
	}
	if _, _, err := c.StartRun(ctx, "statement", "202611"); err != nil {
		t.Fatalf("a statement run without a bank: %v", err)
	}
	runs, err := c.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Job == "autodebit" {
			t.Fatalf("a refused auto-debit run was recorded: %+v", r)
		}
	}
}
