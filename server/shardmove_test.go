package server

import (
	"context"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/scheduler/run"
	"github.com/rzonedb/rzone/zone"
)

// zoneFSMs returns the state machine of each zone's caught-up leader, by
// zone name (waiting for one in every zone).
func (mc *multiCluster) zoneFSMs(t *testing.T, zones []string) map[string]*fsm.FSM {
	t.Helper()
	out := map[string]*fsm.FSM{}
	waitFor(t, 10*time.Second*slow, "a caught-up leader in every zone", func() bool {
		for _, nd := range mc.nodes {
			h := nd.zones.Own()
			if nd.stopping.Load() || h == nil || !h.Replica().IsLeader() || h.Replica().Linearizable(context.Background(), 2*time.Second) != nil {
				continue
			}
			out[h.Name()] = h.FSM()
		}
		return len(out) == len(zones)
	})
	return out
}

// countNotes counts user's notifications of job for cycle in f.
func countNotes(t *testing.T, f *fsm.FSM, user uint64, job string, cycle uint32) int {
	t.Helper()
	list, err := f.Notifications(user)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range list {
		if x.Job == job && x.Cycle == api.FormatCycle(cycle) {
			n++
		}
	}
	return n
}

// checkOnceAcrossZones checks that each of users 0..users-1 has exactly one
// notification of job for cycle if due (none if not) counted over every
// zone, not only the one that serves the user now: a zone a user's shard
// left must hold none of it, since its delivery loop would deliver it.
func (mc *multiCluster) checkOnceAcrossZones(t *testing.T, zones []string, users int, due map[uint64]bool, job string, cycle uint32) {
	t.Helper()
	fs := mc.zoneFSMs(t, zones)
	for u := uint64(0); u < uint64(users); u++ {
		n, by := 0, map[string]int{}
		for z, f := range fs {
			by[z] = countNotes(t, f, u, job, cycle)
			n += by[z]
		}
		if want := map[bool]int{true: 1, false: 0}[due[u]]; n != want {
			t.Fatalf("user %d (due %v) has %d %s notifications for %d across the zones (by zone %v), want %d", u, due[u], n, job, cycle, by, want)
		}
	}
}

// waitDelivered waits until the gateway has every due user's notification
// of job and every live replica has recorded its outbox delivered, then
// checks that no other key reached the gateway.
func (mc *multiCluster) waitDelivered(t *testing.T, gw *run.SimGateway, due map[uint64]bool, job string, cycle uint32) {
	t.Helper()
	waitFor(t, 60*time.Second*slow, "every "+job+" delivered and recorded", func() bool {
		for u := range due {
			if gw.Sent(fsm.NotificationKey(job, cycle, u)) == 0 {
				return false
			}
		}
		for _, nd := range mc.nodes {
			if !nd.stopping.Load() && nd.FSM() != nil && nd.FSM().UndeliveredCount() != 0 {
				return false
			}
		}
		return true
	})
	if got := gw.Keys(); len(got) != len(due) {
		t.Fatalf("the gateway got %d keys, want the %d due users': %v", len(got), len(due), got)
	}
}

// TestShardMovesUnderAStatementRun moves six shards to other zones while a
// statement run goes on: three whose users the run has partly or wholly
// done, three it has not reached. Every due user ends with exactly one
// statement counted over all zones (the moved users' ones are in their new
// zone, none is left in the old), every statement reaches the gateway and
// is recorded delivered, and a second run of the same job and cycle adds
// no statement anywhere and gives the gateway no new key.
func TestShardMovesUnderAStatementRun(t *testing.T) {
	gw := run.NewSimGateway(run.SimConfig{Slots: 4, Latency: 5 * time.Millisecond})
	zones := []string{"A", "B", "C"}
	mc := setupZonesWith(t, zones, 3, func(c *Config) {
		schedTune(c)
		c.Notify = run.NotifyConfig{Notifier: gw, Interval: 50 * time.Millisecond, Batch: 16, Concurrency: 4}
	})
	ctx := context.Background()
	c, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(80))
	const users, paying = 330, 300 // 0..299 pay (a bill is due), 300..329 do not
	var batch []client.BatchPayment
	for u := uint64(0); u < users; u++ {
		if _, err := c.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatalf("put account %d: %v", u, err)
		}
		if u < paying {
			batch = append(batch, client.BatchPayment{User: u, Key: "p", Amount: 100 + int64(u), Merchant: "m"})
		}
	}
	if _, err := c.PayBatch(ctx, batch); err != nil {
		t.Fatalf("pay: %v", err)
	}
	cycleText := time.Now().UTC().Format("200601")
	cycle, _ := api.ParseCycle(cycleText)
	waitFor(t, 20*time.Second*slow, "every payment posted into a bill", func() bool { return len(mc.tryDueUsers(t, cycle)) == paying })
	due := mc.dueUsers(t, cycle)
	// Two tasks at a time keep the run going while the shards move.
	if _, err := c.SetConfig(ctx, run.ConfigLimitPrefix+"notify", `{"default": 2}`, 0); err != nil {
		t.Fatal(err)
	}
	run, _, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, c, run.ID, 60*time.Second*slow, func(r *client.Run) bool { return r.UsersDone >= 60 })

	// Pick three shards with statements made and three without.
	fs := mc.zoneFSMs(t, zones)
	st := mc.nodes[0].metaFSM.State()
	var started, fresh []int
	for s := 0; s < fsm.NumShards; s++ {
		done := 0
		for u := uint64(s); u < paying; u += fsm.NumShards {
			done += countNotes(t, fs[st.Shards[s].Zone], u, fsm.JobStatement, cycle)
		}
		if done > 0 && len(started) < 3 {
			started = append(started, s)
		} else if done == 0 && len(fresh) < 3 {
			fresh = append(fresh, s)
		}
	}
	if len(started) < 3 || len(fresh) < 3 {
		t.Fatalf("shards with statements %v, without %v: want three of each", started, fresh)
	}
	mover, _ := client.New(mc.apis, client.WithMaxRetries(40))
	for i, s := range []int{started[0], fresh[0], started[1], fresh[1], started[2], fresh[2]} {
		from := mc.nodes[0].metaFSM.State().Shards[s].Zone
		to := zones[(func() int {
			for j, z := range zones {
				if z == from {
					return j
				}
			}
			return 0
		}()+1+i%2)%len(zones)]
		start := time.Now()
		if _, err := mover.MoveShard(ctx, s, to); err != nil {
			t.Fatalf("move shard %d to %s: %v", s, to, err)
		}
		r, _ := c.GetRun(ctx, run.ID)
		t.Logf("moved shard %d from %s to %s in %v; run at %d of %d users (%s)", s, from, to, time.Since(start), r.UsersDone, r.UsersTotal, r.State)
	}
	if r := waitRun(t, c, run.ID, 120*time.Second*slow, func(r *client.Run) bool { return r.State != "running" }); r.State != "done" || r.UsersDone != paying {
		t.Fatalf("statement run: %+v", r)
	}
	mc.checkOnceAcrossZones(t, zones, users, due, fsm.JobStatement, cycle)
	mc.checkOncePerDueUser(t, users, fsm.JobStatement, cycle)
	mc.waitDelivered(t, gw, due, fsm.JobStatement, cycle)

	// The same job and cycle again: nothing new anywhere.
	calls, keys, dups := gw.Stats()
	t.Logf("gateway after the first run: %d calls, %d keys, %d repeated deliveries", calls, keys, dups)
	again, created, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil || !created {
		t.Fatalf("a second statement run: %+v %v %v", again, created, err)
	}
	if r := waitRun(t, c, again.ID, 120*time.Second*slow, func(r *client.Run) bool { return r.State != "running" }); r.State != "done" || r.UsersDone != paying {
		t.Fatalf("second statement run: %+v", r)
	}
	mc.checkOnceAcrossZones(t, zones, users, due, fsm.JobStatement, cycle)
	time.Sleep(500 * time.Millisecond) // ten delivery rounds, were anything left to deliver
	mc.waitDelivered(t, gw, due, fsm.JobStatement, cycle)
	if _, k, _ := gw.Stats(); k != keys {
		t.Fatalf("the second run gave the gateway %d new keys", k-keys)
	}
}

// TestStatementRunWhileZoneFailedOver starts a statement run while zone A
// is failed over (its nodes down, its shards served by the failover store
// in B, whose nodes work the store's tasks), recovers A once the store has
// made statements (the run may still be going on), and checks that every
// due user gets exactly one statement, counted over every zone once the
// store has retired, each delivered, and that a second run of the same job
// and cycle adds none: reconciliation carried the store's outbox and effect
// records home.
func TestStatementRunWhileZoneFailedOver(t *testing.T) {
	gw := run.NewSimGateway(run.SimConfig{Slots: 4, Latency: 5 * time.Millisecond})
	zones := []string{"A", "B", "C"}
	mc := setupZonesWith(t, zones, 3, func(c *Config) {
		schedTune(c)
		c.Notify = run.NotifyConfig{Notifier: gw, Interval: 50 * time.Millisecond, Batch: 16, Concurrency: 4}
	})
	ctx := context.Background()
	c, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(80))
	const users, paying = 120, 100
	var batch []client.BatchPayment
	for u := uint64(0); u < users; u++ {
		if _, err := c.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatalf("put account %d: %v", u, err)
		}
		if u < paying {
			batch = append(batch, client.BatchPayment{User: u, Key: "p", Amount: 100 + int64(u), Merchant: "m"})
		}
	}
	if _, err := c.PayBatch(ctx, batch); err != nil {
		t.Fatalf("pay: %v", err)
	}
	cycleText := time.Now().UTC().Format("200601")
	cycle, _ := api.ParseCycle(cycleText)
	waitFor(t, 20*time.Second*slow, "every payment posted into a bill", func() bool { return len(mc.tryDueUsers(t, cycle)) == paying })
	due := mc.dueUsers(t, cycle)
	// With no guard mark left, no account is isolated in the store: every
	// due user's statement can be made while failed over.
	waitFor(t, 10*time.Second*slow, "guard marks of A cleared in B", func() bool { return len(mc.marksIn("B", "A")) == 0 })

	mc.loseZone(0, 3)
	admin, _ := client.New(mc.apis[3:], client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(80))
	waitFor(t, 10*time.Second*slow, "zone A's lease ended", func() bool {
		l, _ := mc.nodes[3].metaFSM.State().Lease("A")
		return time.Now().After(time.UnixMilli(l.Until + zone.LeaseMargin.Milliseconds()))
	})
	if zs, err := admin.FailoverZone(ctx, "A", 30*time.Second); err != nil || zs.Phase != fsm.PhaseFailover {
		t.Fatalf("failover: %+v %v", zs, err)
	}
	if _, err := admin.SetConfig(ctx, run.ConfigLimitPrefix+"notify", `{"default": 2}`, 0); err != nil {
		t.Fatal(err)
	}
	run, _, err := admin.StartRun(ctx, "statement", cycleText)
	if err != nil {
		t.Fatal(err)
	}
	// The store serves A's users to the run: recover once it has made
	// statements of its own, which reconciliation must carry home.
	usersA := 0
	inStore := func() int { // statements in the store's leader replica
		for _, nd := range mc.nodes[3:6] {
			for _, h := range nd.zones.List() {
				if h.Store() && h.Replica().IsLeader() {
					n := 0
					for u := uint64(0); u < paying; u++ {
						n += countNotes(t, h.FSM(), u, fsm.JobStatement, cycle)
					}
					return n
				}
			}
		}
		return 0
	}
	for u := uint64(0); u < paying; u++ {
		if z, _ := mc.nodes[3].metaFSM.State().Route(u); z != "B" && z != "C" {
			usersA++
		}
	}
	waitFor(t, 60*time.Second*slow, "statements made by the failover store", func() bool { return inStore() >= min(10, usersA) })
	r, _ := admin.GetRun(ctx, run.ID)
	t.Logf("recovering zone A with the run at %d of %d users (%s), %d of A's %d users' statements made by the store", r.UsersDone, r.UsersTotal, r.State, inStore(), usersA)
	mc.restartZone(0, 3)
	if zs, err := admin.RecoverZone(ctx, "A", 60*time.Second); err != nil || zs.Phase != fsm.PhaseNormal {
		t.Fatalf("recover: %+v %v", zs, err)
	}
	if r := waitRun(t, admin, run.ID, 120*time.Second*slow, func(r *client.Run) bool { return r.State != "running" }); r.State != "done" || r.UsersDone != paying {
		t.Fatalf("statement run: %+v", r)
	}
	waitFor(t, 10*time.Second*slow, "the failover store retired", func() bool {
		for _, nd := range mc.nodes[3:6] {
			for _, h := range nd.zones.List() {
				if h.Store() {
					return false
				}
			}
		}
		return true
	})
	mc.checkOnceAcrossZones(t, zones, users, due, fsm.JobStatement, cycle)
	mc.checkOncePerDueUser(t, users, fsm.JobStatement, cycle)
	mc.waitDelivered(t, gw, due, fsm.JobStatement, cycle)

	_, keys, _ := gw.Stats()
	again, created, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil || !created {
		t.Fatalf("a second statement run: %+v %v %v", again, created, err)
	}
	if r := waitRun(t, c, again.ID, 120*time.Second*slow, func(r *client.Run) bool { return r.State != "running" }); r.State != "done" || r.UsersDone != paying {
		t.Fatalf("second statement run: %+v", r)
	}
	mc.checkOnceAcrossZones(t, zones, users, due, fsm.JobStatement, cycle)
	time.Sleep(500 * time.Millisecond)
	mc.waitDelivered(t, gw, due, fsm.JobStatement, cycle)
	calls, k, dups := gw.Stats()
	t.Logf("gateway: %d calls, %d keys, %d repeated deliveries", calls, k, dups)
	if k != keys {
		t.Fatalf("the second run gave the gateway %d new keys", k-keys)
	}
}
