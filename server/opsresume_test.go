package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// A failover or a recovery whose driver dies is finished by the next meta
// leader, in the same operation record (like a shard move:
// TestShardMoveFinishedByTheNextMetaLeader).

// ledger is the payments the cluster acknowledged, by user and key.
type ledger map[uint64]map[string]int64

// pay makes a payment of amount under key for each of users and records
// it once acknowledged.
func (l ledger) pay(t *testing.T, cl *client.Client, users []uint64, key string, amount int64) {
	t.Helper()
	for _, u := range users {
		p, err := cl.Pay(context.Background(), u, client.PayRequest{Key: key, Amount: amount, Merchant: "m"})
		if err != nil || p.Status == api.PaymentDeclined {
			t.Fatalf("payment %s of user %d: %+v %v", key, u, p, err)
		}
		if l[u] == nil {
			l[u] = map[string]int64{}
		}
		l[u][key] = amount
	}
}

// check asserts that every account holds exactly its acknowledged
// payments, none declined, and that used+pending = accepted-repaid.
func (l ledger) check(t *testing.T, cl *client.Client) {
	t.Helper()
	for u, want := range l {
		pl, err := cl.ListPayments(context.Background(), u, client.ListOptions{Limit: 1000})
		if err != nil {
			t.Fatalf("payments of user %d: %v", u, err)
		}
		got := map[string]int64{}
		for _, p := range pl.Payments {
			if p.Status == api.PaymentDeclined {
				t.Fatalf("user %d: payment %s declined", u, p.Key)
			}
			got[p.Key] += p.Amount
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("user %d holds payments %v, acknowledged %v", u, got, want)
		}
		assertMoney(t, cl, u)
	}
}

// resumeSetup starts three zones of three nodes and picks the zone to fail
// over: neither the meta leader's zone x nor one x backs up, so stopping
// the meta leader touches neither the zone nor its failover store
// (metaLeaderIn keeps the meta leadership in x). It
// opens accounts in every zone, pays twice from each and waits until the
// zone's backup has applied the zone's writes (its guard marks cleared),
// so the failover store starts with every acknowledged payment.
func resumeSetup(t *testing.T) (mc *multiCluster, cl *client.Client, x, z, backup string, usersZ []uint64, paid ledger) {
	mc = setupZones(t, []string{"A", "B", "C"}, 3)
	waitFor(t, 10*time.Second, "a meta leader", func() bool { return mc.metaLeader() >= 0 })
	lead := mc.metaLeader()
	st := mc.nodes[lead].metaFSM.State()
	x = mc.cfgs[lead].Zone
	for _, zi := range st.Zones {
		if zi.Name != x && zi.Backup != x {
			z, backup = zi.Name, zi.Backup
		}
	}
	if z == "" {
		t.Fatalf("no zone away from the meta leader's zone %s: %+v", x, st.Zones)
	}
	var users []uint64
	for u, n := uint64(0), map[string]int{}; len(users) < 5; u++ {
		zu, _ := st.Route(u)
		if (zu == z && n[zu] < 3) || (zu != z && n[zu] < 1) {
			n[zu]++
			users = append(users, u)
			if zu == z {
				usersZ = append(usersZ, u)
			}
		}
	}
	cl, _ = client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(100), client.WithTimeout(3*time.Second))
	for _, u := range users {
		if _, err := cl.PutAccount(context.Background(), u, 100_000); err != nil {
			t.Fatal(err)
		}
	}
	paid = ledger{}
	paid.pay(t, cl, users, "k1", 100)
	paid.pay(t, cl, users, "k2", 25)
	waitFor(t, 10*time.Second, "the guard marks of "+z+" cleared in "+backup, func() bool { return len(mc.marksIn(backup, z)) == 0 })
	t.Logf("zone %s (backup %s) fails over; the meta leader is %s in %s", z, backup, mc.cfgs[lead].NodeID, x)
	return mc, cl, x, z, backup, usersZ, paid
}

// metaLeaderIn moves the meta leadership to zone x's meta voter unless a
// node of x leads the meta group already.
func (mc *multiCluster) metaLeaderIn(t *testing.T, x string) {
	t.Helper()
	waitFor(t, 10*time.Second, "the meta leader in zone "+x, func() bool {
		i := mc.metaLeader()
		if i < 0 || mc.cfgs[i].Zone == x {
			return i >= 0
		}
		for j, nd := range mc.nodes {
			if mc.cfgs[j].Zone == x && isMetaVoter(nd) {
				mc.nodes[i].meta.Raft().LeadershipTransferToServer(raft.ServerID(mc.cfgs[j].NodeID), raft.ServerAddress(mc.cfgs[j].raftAdvertise())).Error()
			}
		}
		return false
	})
}

// holdFirstDriver holds the first node to reach step of zone z there, from
// its from-th merged shard on (0 for a promotion), until the test ends;
// driver reports that node and whether it is held now.
func holdFirstDriver(t *testing.T, z, step string, from int) (driver func() (string, bool)) {
	var (
		mu     sync.Mutex
		first  string
		isHeld bool
	)
	hold := func(node, zz, s string, merged int) bool {
		if zz != z || s != step {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if first == "" {
			first = node
		}
		held := node == first && merged >= from
		isHeld = isHeld || held
		return held
	}
	zone.TestHoldDriver.Store(&hold)
	t.Cleanup(func() { zone.TestHoldDriver.Store(nil) })
	return func() (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		return first, isHeld
	}
}

// stopDriver stops the node driver, which must lead the meta group, and
// returns its index.
func (mc *multiCluster) stopDriver(t *testing.T, driver string, rec fsm.Op) int {
	t.Helper()
	dead := -1
	for i, nd := range mc.nodes {
		if nd.cfg.NodeID == driver {
			dead = i
		}
	}
	if dead < 0 || !mc.nodes[dead].meta.IsLeader() {
		t.Fatalf("the driver %s is not the meta leader", driver)
	}
	t.Logf("stopping %s, the meta leader driving %s %s at phase %s (%d%%)", driver, rec.Kind, rec.ID, rec.Phase, rec.Progress)
	mc.nodes[dead].Shutdown(context.Background())
	return dead
}

// checkSameOp asserts that done is the finished record of the operation
// begun as rec, the only one of its kind on its target, and that a live
// node answers it.
func (mc *multiCluster) checkSameOp(t *testing.T, st fsm.MetaState, live int, rec, done fsm.Op) {
	t.Helper()
	if done.ID != rec.ID || !done.Done() || done.Progress != 100 || done.Started != rec.Started || done.Kind != rec.Kind || done.Target != rec.Target {
		t.Fatalf("the finished record %+v is not the one begun (%+v)", done, rec)
	}
	n := 0
	for _, o := range st.Ops {
		if o.Kind == rec.Kind && o.Target == rec.Target {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d %s records on %s, want 1: %+v", n, rec.Kind, rec.Target, st.Ops)
	}
	var got api.Operation
	getJSON(t, mc.apis[live], fmt.Sprintf("/v1/ops/%s?after=%d", rec.ID, done.Index), &got)
	if !got.Done || got.ID != rec.ID || got.Progress != 100 || got.Phase != fsm.OpDone {
		t.Fatalf("GET /v1/ops/%s on %s: %+v", rec.ID, mc.nodes[live].cfg.NodeID, got)
	}
}

// liveMetaLeader is the index of the meta leader other than dead, or -1.
func (mc *multiCluster) liveMetaLeader(dead int) int {
	if i := mc.metaLeader(); i != dead {
		return i
	}
	return -1
}

// TestFailoverFinishedByTheNextMetaLeader cuts a failover short where its
// driver has read the guard marks and picked the seed, before the shards
// are routed to the failover store (phase failing_over), by stopping the
// node that drives it, the meta leader. The next meta leader finishes the
// same operation: the store serves the zone's shards with every
// acknowledged payment.
func TestFailoverFinishedByTheNextMetaLeader(t *testing.T) {
	mc, cl, x, z, _, usersZ, paid := resumeSetup(t)
	driver := holdFirstDriver(t, z, zone.HoldPromote, 0)
	mc.metaLeaderIn(t, x)

	asker := (mc.metaLeader() + 1) % len(mc.nodes)
	status, op := mc.postOp(t, asker, "/v1/zones/"+z+"/failover?force=true", "")
	if status != http.StatusAccepted || op.ID == "" || op.Kind != fsm.OpFailover || op.Target != z || op.Done || op.Phase != fsm.PhaseFailingOver {
		t.Fatalf("failover answered %d %+v", status, op)
	}
	var rec fsm.Op
	waitFor(t, 20*time.Second, "the failover's driver held before the promotion", func() bool {
		i := mc.metaLeader()
		if i < 0 {
			return false
		}
		rec, _ = mc.nodes[i].metaFSM.State().Op(op.ID)
		_, held := driver()
		return rec.Phase == "promoting" && held
	})
	st := mc.nodes[mc.metaLeader()].metaFSM.State()
	if zi, _ := st.ZoneOf(z); zi.PhaseOf() != fsm.PhaseFailingOver || zi.Failover == nil || zi.Failover.Group != "" {
		t.Fatalf("zone %s while its driver is held: %+v", z, zi)
	}
	var shards []int
	for s, r := range st.Shards {
		if r.Zone == z {
			shards = append(shards, s)
		}
	}
	if len(shards) == 0 {
		t.Fatalf("zone %s routes no shard", z)
	}

	node, _ := driver()
	dead := mc.stopDriver(t, node, rec)

	st, done, zi := mc.awaitResumed(t, dead, rec, op.ID, z, fsm.PhaseFailover, "failover", 30*time.Second)
	group := zi.Failover.Group
	if group == "" || zi.Failover.Seed == "" || zi.Failover.Seed == node {
		t.Fatalf("zone %s failed over: %+v", z, zi.Failover)
	}
	for _, s := range shards {
		if r := st.Shards[s]; r.Zone != group || r.Target != "" {
			t.Fatalf("shard %d of %s routes to %+v, not the store %s", s, z, r, group)
		}
	}
	t.Logf("%s: %s", done.ID, done.Detail)

	// The store serves the zone's users, with what the zone acknowledged.
	waitFor(t, 20*time.Second, "the failover store "+group+" serving", func() bool {
		for i, nd := range mc.nodes {
			if i == dead {
				continue
			}
			if h := nd.zones.Get(group); h != nil && h.Replica().IsLeader() && h.Ready() && nd.zones.LeaseValid(h) {
				return true
			}
		}
		return false
	})
	paid.pay(t, cl, usersZ, "in-store", 10)
	paid.check(t, cl)
}

// TestRecoveryFinishedByTheNextMetaLeader cuts a recovery short after a
// few of the failover store's shards are merged into the zone (phase
// reconciling), by stopping the node that drives it, the meta leader. The
// next meta leader finishes the same operation: the shards are home, the
// zone serves them, and every payment acknowledged before, during and
// after the failover is there once.
func TestRecoveryFinishedByTheNextMetaLeader(t *testing.T) {
	mc, cl, x, z, _, usersZ, paid := resumeSetup(t)

	status, fop := mc.postOp(t, (mc.metaLeader()+1)%len(mc.nodes), "/v1/zones/"+z+"/failover?force=true", "")
	if status != http.StatusAccepted || fop.Kind != fsm.OpFailover {
		t.Fatalf("failover answered %d %+v", status, fop)
	}
	var group string
	waitFor(t, 30*time.Second, "zone "+z+" failed over", func() bool {
		i := mc.metaLeader()
		if i < 0 {
			return false
		}
		st := mc.nodes[i].metaFSM.State()
		o, _ := st.Op(fop.ID)
		zi, _ := st.ZoneOf(z)
		if zi.Failover != nil {
			group = zi.Failover.Group
		}
		return o.Done() && zi.PhaseOf() == fsm.PhaseFailover
	})
	paid.pay(t, cl, usersZ, "in-store", 10)

	driver := holdFirstDriver(t, z, zone.HoldMerged, 2)
	mc.metaLeaderIn(t, x)
	asker := (mc.metaLeader() + 1) % len(mc.nodes)
	status, op := mc.postOp(t, asker, "/v1/zones/"+z+"/recover", "")
	if status != http.StatusAccepted || op.ID == "" || op.ID == fop.ID || op.Kind != fsm.OpRecover || op.Target != z || op.Done {
		t.Fatalf("recover answered %d %+v", status, op)
	}
	var rec fsm.Op
	waitFor(t, 20*time.Second, "the recovery's driver held after merging some shards", func() bool {
		i := mc.metaLeader()
		if i < 0 {
			return false
		}
		rec, _ = mc.nodes[i].metaFSM.State().Op(op.ID)
		_, held := driver()
		// The record shows shards merged (its progress starts at 5%).
		return rec.Phase == "merging" && rec.Progress > 5 && held
	})
	st := mc.nodes[mc.metaLeader()].metaFSM.State()
	var shards []int
	for s, r := range st.Shards {
		if r.Zone == group {
			if r.Target != z {
				t.Fatalf("shard %d of store %s routes to %+v while reconciling", s, group, r)
			}
			shards = append(shards, s)
		}
	}
	if zi, _ := st.ZoneOf(z); zi.PhaseOf() != fsm.PhaseReconciling || len(shards) == 0 {
		t.Fatalf("zone %s while its recovery's driver is held: %+v, %d shards in %s", z, zi, len(shards), group)
	}

	node, _ := driver()
	dead := mc.stopDriver(t, node, rec)

	st, done, zi := mc.awaitResumed(t, dead, rec, op.ID, z, fsm.PhaseNormal, "recovery", 60*time.Second)
	if f := zi.Failover; f == nil || f.Group != group || f.Recovered == 0 || f.Home == 0 || f.Report == nil {
		t.Fatalf("zone %s recovered: %+v", z, zi.Failover)
	}
	if rep := zi.Failover.Report; rep.Shards != len(shards) || len(rep.Voided) != 0 || len(rep.Contradicted) != 0 || len(rep.Violations) != 0 || rep.Unmerged != 0 {
		t.Fatalf("report %+v, want %d shards merged cleanly", rep, len(shards))
	}
	for _, s := range shards {
		if r := st.Shards[s]; r.Zone != z || r.Target != "" {
			t.Fatalf("shard %d routes to %+v, not home in %s", s, r, z)
		}
	}
	t.Logf("%s: %s", done.ID, done.Detail)

	waitFor(t, 20*time.Second, "the failover store "+group+" retired", func() bool {
		for i, nd := range mc.nodes {
			if i != dead && nd.zones.Get(group) != nil {
				return false
			}
		}
		return true
	})
	paid.pay(t, cl, usersZ, "home", 5)
	paid.check(t, cl)
}

// awaitResumed waits until a meta leader other than dead shows operation
// id done and zone z in phase, checks it is the same operation record as
// rec, and returns that leader's state, the record and the zone.
func (mc *multiCluster) awaitResumed(t *testing.T, dead int, rec fsm.Op, id, z, phase, what string, d time.Duration) (fsm.MetaState, fsm.Op, fsm.ZoneInfo) {
	t.Helper()
	var st fsm.MetaState
	var done fsm.Op
	var zi fsm.ZoneInfo
	var last int
	waitFor(t, d, "the next meta leader finishes the "+what, func() bool {
		last = mc.liveMetaLeader(dead)
		if last < 0 {
			return false
		}
		st = mc.nodes[last].metaFSM.State()
		done, _ = st.Op(id)
		zi, _ = st.ZoneOf(z)
		return done.Done() && zi.PhaseOf() == phase
	})
	mc.checkSameOp(t, st, last, rec, done)
	return st, done, zi
}
