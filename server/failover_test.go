package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// TestFailoverHardCaseAndReconcile plays the talk's hard case on a 3×3
// cluster, deterministically: zone A's async followers in B are held back,
// a payment commits in A (so it is marked in B, not replicated), zone A is
// lost, the client retries the same key and the failover store accepts it;
// A comes back and reconciliation (cut short once, then run again) keeps
// one copy, voids the other and reports it. On the way it checks what the
// failover store allows: payments for every account, within the stand-in
// limit; no state-type write to a blacklisted account; state-type writes to
// others from the replica's state.
func TestFailoverHardCaseAndReconcile(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 3)
	ctx := context.Background()
	cl, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(80), client.WithTimeout(3*time.Second))
	st := mc.nodes[0].metaFSM.State()
	var usersA []uint64
	for u := uint64(0); len(usersA) < 3; u++ {
		if z, _ := st.Route(u); z == "A" {
			usersA = append(usersA, u)
		}
	}
	hot, cold := usersA[0], usersA[1]
	for _, u := range usersA {
		if _, err := cl.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Pay(ctx, u, client.PayRequest{Key: "k1", Amount: 100, Merchant: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	marksOfA := func() []uint64 { return mc.marksIn("B", "A") }
	// The guard clears marks once B's replicas have applied the writes.
	waitFor(t, 10*time.Second*slow, "guard marks of A cleared in B", func() bool { return len(marksOfA()) == 0 })

	// Hold B's followers of A back, then write to the hot account in A.
	mc.holdFollowers("A", 3, 6)
	if p, err := cl.Pay(ctx, hot, client.PayRequest{Key: "k2", Amount: 50, Merchant: "m"}); err != nil || p.Status != "accepted" {
		t.Fatalf("k2 in zone A: %+v %v", p, err)
	}
	if m := marksOfA(); len(m) != 1 || m[0] != hot {
		t.Fatalf("marks of A in B after a write B has not replicated: %v, want [%d]", m, hot)
	}

	// Zone A is lost. Its followers in B come back (A is gone: they cannot
	// catch up).
	mc.loseZone(0, 3)
	mc.releaseFollowers("A", 3, 6)
	admin, _ := client.New(mc.apis[3:], client.WithMaxRetries(20))
	// The command is given once A's lease has ended (as the meta records
	// it), so what follows measures the failover itself.
	waitFor(t, 10*time.Second*slow, "zone A's lease ended", func() bool {
		l, _ := mc.nodes[3].metaFSM.State().Lease("A")
		return time.Now().After(time.UnixMilli(l.Until + zone.LeaseMargin.Milliseconds()))
	})
	start := time.Now()
	zs, err := admin.FailoverZone(ctx, "A", 30*time.Second)
	if err != nil || zs.Phase != fsm.PhaseFailover {
		t.Fatalf("failover: %+v %v", zs, err)
	}
	t.Logf("failover command to shards routed: %v (store %s, seed %s, blacklist %d)", time.Since(start), zs.Failover.Store, zs.Failover.Seed, zs.Failover.Blacklist)
	if zs.Failover.Blacklist != 1 {
		t.Fatalf("blacklist size %d, want 1", zs.Failover.Blacklist)
	}

	// The client retries k2: the store never saw it, so it accepts it.
	cl2, _ := client.New(mc.apis[3:], client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(100), client.WithTimeout(3*time.Second))
	p, err := cl2.Pay(ctx, hot, client.PayRequest{Key: "k2", Amount: 50, Merchant: "m"})
	if err != nil {
		t.Fatalf("retry of k2 in the failover store: %v", err)
	}
	took := time.Since(start)
	t.Logf("first payment in the store %v after a failover command given once the zone's lease had ended (target 1s)", took)
	if took > 2*time.Second*slow {
		t.Errorf("first payment %v after the failover command", took)
	}
	if _, err := cl2.Pay(ctx, hot, client.PayRequest{Key: "k3", Amount: 30, Merchant: "m"}); err != nil {
		t.Fatalf("new payment for an isolated account: %v", err)
	}
	// Over the stand-in limit, an isolated account's payment is refused
	// undecided (the zone may have decided the key), not declined.
	if _, err := cl2.Pay(ctx, hot, client.PayRequest{Key: "big", Amount: 5000, Merchant: "m"}); !errors.Is(err, client.ErrAccountIsolated) {
		t.Fatalf("payment of an isolated account over the stand-in limit: %v", err)
	}
	if _, err := cl2.Repay(ctx, hot, client.RepayRequest{Key: "r1", Amount: 10}); !errors.Is(err, client.ErrAccountIsolated) {
		t.Fatalf("repayment of an isolated account: %v", err)
	}
	if a, err := cl2.GetAccount(ctx, hot); err != nil || !a.Isolated {
		t.Fatalf("read of an isolated account: %+v %v", a, err)
	}
	for _, path := range []string{"/v1/accounts/%d/bills", "/v1/accounts/%d/payments"} {
		// A 503 is the store's group changing leader (under load): retried,
		// as a client would. Any other answer must carry the header.
		var code int
		var isolated string
		waitFor(t, 10*time.Second*slow, "a read of an isolated account answered", func() bool {
			resp, err := http.Get("http://" + mc.apis[4] + fmt.Sprintf(path, hot))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			code, isolated = resp.StatusCode, resp.Header.Get(HeaderIsolated)
			return code != http.StatusServiceUnavailable
		})
		if code != 200 || isolated != "true" {
			t.Fatalf("GET %s of an isolated account: %d, %s=%q", fmt.Sprintf(path, hot), code, HeaderIsolated, isolated)
		}
	}
	// Other accounts go on from the replica's state, state-type writes too.
	if _, err := cl2.Pay(ctx, cold, client.PayRequest{Key: "c2", Amount: 70, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second*slow, "posting in the store", func() bool {
		a, err := cl2.GetAccount(ctx, cold)
		return err == nil && a.Pending == 0
	})
	if _, err := cl2.Repay(ctx, cold, client.RepayRequest{Key: "r2", Amount: 20}); err != nil {
		t.Fatalf("repay a current account in the store: %v", err)
	}
	_ = p

	// Zone A returns: it gets no lease and takes no writes while failed over.
	mc.restartZone(0, 3)
	for _, nd := range mc.nodes[:3] {
		if h := nd.zones.Own(); h != nil && nd.zones.LeaseValid(h) {
			t.Fatalf("node %s of the failed-over zone holds a lease", nd.cfg.NodeID)
		}
	}

	// Reconciliation, cut short after 5 shards once, then run to the end
	// by the meta leader's next attempt.
	var stops atomic.Int32
	stop := func(merged int) bool { return merged == 5 && stops.Add(1) == 1 }
	zone.TestReconcileStop.Store(&stop)
	t.Cleanup(func() { zone.TestReconcileStop.Store(nil) })
	start = time.Now()
	zs, err = admin.RecoverZone(ctx, "A", 60*time.Second)
	if err != nil || zs.Phase != fsm.PhaseNormal {
		t.Fatalf("recover: %+v %v", zs, err)
	}
	if stops.Load() == 0 {
		t.Fatal("the reconciliation was never cut short")
	}
	rep := zs.Failover.Report
	t.Logf("reconciliation took %v: %+v", time.Since(start), rep)
	if rep == nil || len(rep.Voided) != 1 || rep.Voided[0] != (client.VoidedPayment{User: hot, Key: "k2", Amount: 50, ZoneAmount: 50}) {
		t.Fatalf("report: %+v, want k2 of user %d voided once", rep, hot)
	}
	if len(rep.Violations) != 0 || rep.Kept != 1 || rep.Merged != 1 {
		t.Fatalf("report: %+v", rep)
	}
	// Home again: both payments and the store's are in A, k2 once.
	home, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(100), client.WithTimeout(3*time.Second))
	a, err := home.GetAccount(ctx, hot)
	if err != nil || a.Accepted != 180 || a.Isolated {
		t.Fatalf("hot account at home: %+v %v (want k1 100 + k2 50 + k3 30)", a, err)
	}
	c, err := home.GetAccount(ctx, cold)
	if err != nil || c.Accepted != 170 || c.Repaid != 20 {
		t.Fatalf("cold account at home: %+v %v", c, err)
	}
	if _, err := home.Repay(ctx, cold, client.RepayRequest{Key: "r3", Amount: 10}); err != nil {
		t.Fatalf("repay at home after reconciliation: %v", err)
	}
	if _, err := home.Pay(ctx, hot, client.PayRequest{Key: "k4", Amount: 10, Merchant: "m"}); err != nil {
		t.Fatalf("pay at home after reconciliation: %v", err)
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
	for _, u := range usersA {
		assertMoney(t, home, u)
	}
	waitFor(t, 10*time.Second*slow, "zone A ready with a lease at home", func() bool {
		var zs api.ZoneStatus
		getJSON(t, mc.apis[5], "/v1/zones/A", &zs)
		return zs.Phase == fsm.PhaseNormal && zs.Ready && zs.LeaseValid && zs.Leader != ""
	})
	waitFor(t, 20*time.Second*slow, "zone C (backed up by A) re-established its guard marks", func() bool {
		z, _ := mc.nodes[6].metaFSM.State().ZoneOf("C")
		return !z.GuardGap
	})
}

// assertMoney checks an account's money identity through the API: used +
// pending equals accepted payments less applied repayments.
func assertMoney(t *testing.T, cl *client.Client, user uint64) {
	t.Helper()
	ctx := context.Background()
	a, err := cl.GetAccount(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := cl.ListPayments(ctx, user, client.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var accepted int64
	for _, p := range pl.Payments {
		if p.Status != "declined" {
			accepted += p.Amount
		}
	}
	if a.Used+a.Pending != a.Accepted-a.Repaid || accepted != a.Accepted {
		t.Fatal(fmt.Sprintf("user %d: %+v, payments add up to %d", user, a, accepted))
	}
}

// marksIn returns the guard marks of zone z held by zone b's leader.
func (mc *multiCluster) marksIn(b, z string) []uint64 {
	for _, nd := range mc.nodes {
		if nd == nil || nd.cfg.Zone != b {
			continue
		}
		if h := nd.zones.Own(); h != nil && h.Replica().IsLeader() {
			m, _ := h.FSM().Marks(z)
			return m
		}
	}
	return nil
}

// holdFollowers closes the async followers of zone z on nodes [from, to)
// and keeps them closed until releaseFollowers.
func (mc *multiCluster) holdFollowers(z string, from, to int) {
	hold := func(node, zone string) bool { return zone == z }
	zone.TestHoldFollower.Store(&hold)
	mc.t.Cleanup(func() { zone.TestHoldFollower.Store(nil) })
	for _, nd := range mc.nodes[from:to] {
		// Under the open lock: a follower being opened as the hold is set
		// (converge checked it before) is closed here or never opened.
		mu := nd.zones.OpenLock()
		mu.Lock()
		if h := nd.zones.Get(z); h != nil {
			nd.zones.Close(h)
		}
		mu.Unlock()
	}
}

// releaseFollowers lets the held followers reopen and waits until they have.
func (mc *multiCluster) releaseFollowers(z string, from, to int) {
	zone.TestHoldFollower.Store(nil)
	waitFor(mc.t, 10*time.Second*slow, "followers of "+z+" reopened", func() bool {
		for _, nd := range mc.nodes[from:to] {
			if nd.zones.Get(z) == nil {
				return false
			}
		}
		return true
	})
}

// loseZone shuts down nodes [from, to), a whole zone.
func (mc *multiCluster) loseZone(from, to int) {
	for i := from; i < to; i++ {
		mc.nodes[i].Shutdown(context.Background())
	}
}

// restartZone starts nodes [from, to) again and waits for a leader among them.
func (mc *multiCluster) restartZone(from, to int) {
	for i := from; i < to; i++ {
		nd, err := Start(mc.cfgs[i])
		if err != nil {
			mc.t.Fatal(err)
		}
		mc.nodes[i] = nd
	}
	waitFor(mc.t, 20*time.Second*slow, "the zone has a leader again", func() bool {
		for _, nd := range mc.nodes[from:to] {
			if nd.IsLeader() {
				return true
			}
		}
		return false
	})
}

// TestFailoverStoreServesOnlyOnceSetUp holds a failover store's set-up
// (CmdFailover) back: meanwhile the store gets no lease, is not ready and
// takes no write; a write sent to it then, and the writes once it serves,
// leave every member of the store with the same state.
func TestFailoverStoreServesOnlyOnceSetUp(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 3)
	ctx := context.Background()
	cl, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(80), client.WithTimeout(3*time.Second))
	st := mc.nodes[0].metaFSM.State()
	var user uint64
	for ; ; user++ {
		if z, _ := st.Route(user); z == "A" {
			break
		}
	}
	if _, err := cl.PutAccount(ctx, user, 10_000); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Pay(ctx, user, client.PayRequest{Key: "k0", Amount: 100, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second*slow, "B's followers of A caught up", func() bool {
		for _, api := range mc.apis[3:6] {
			if a, err := cl.GetAccount(ctx, user, client.Stale(), client.At(api)); err != nil || a.Accepted != 100 {
				return false
			}
		}
		return true
	})
	hold := func(string) bool { return true }
	zone.TestHoldStoreSetUp.Store(&hold)
	t.Cleanup(func() { zone.TestHoldStoreSetUp.Store(nil) })
	mc.loseZone(0, 3)
	admin, _ := client.New(mc.apis[3:], client.WithMaxRetries(20))
	zs, err := admin.FailoverZone(ctx, "A", 30*time.Second*slow, client.Forced())
	if err != nil || zs.Phase != fsm.PhaseFailover {
		t.Fatalf("failover: %+v %v", zs, err)
	}
	group := zs.Failover.Store
	var leader *Node
	waitFor(t, 10*time.Second*slow, "the store has a leader", func() bool {
		for _, nd := range mc.nodes[3:6] {
			if h := nd.zones.Get(group); h != nil && h.Replica().IsLeader() {
				leader = nd
				return true
			}
		}
		return false
	})
	time.Sleep(4 * mc.cfgs[3].LeaseRenew) // renewal rounds that must not give it a lease
	h := leader.zones.Get(group)
	if l, ok := leader.metaFSM.State().Lease(group); ok && l.Until != 0 {
		t.Fatalf("the store holds a lease before its CmdFailover: %+v", l)
	}
	if leader.zones.LeaseValid(h) || h.Ready() {
		t.Fatalf("the store's leader is ready (%v) or holds a lease (%v) before its CmdFailover", h.Ready(), leader.zones.LeaseValid(h))
	}
	early, _ := client.New([]string{leader.cfg.HTTPAddr}, client.WithMaxRetries(0), client.WithTimeout(2*time.Second))
	if p, err := early.Pay(ctx, user, client.PayRequest{Key: "early", Amount: 10, Merchant: "m"}); err == nil {
		t.Fatalf("the store took a payment before its CmdFailover: %+v", p)
	}

	zone.TestHoldStoreSetUp.Store(nil)
	scl, _ := client.New(mc.apis[3:], client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(100), client.WithTimeout(3*time.Second))
	for _, key := range []string{"early", "late"} {
		if _, err := scl.Pay(ctx, user, client.PayRequest{Key: key, Amount: 10, Merchant: "m"}); err != nil {
			t.Fatalf("payment %s once the store serves: %v", key, err)
		}
	}
	waitFor(t, 10*time.Second*slow, "every store member in the same state", func() bool {
		var first [32]byte
		var at uint64
		for i, nd := range mc.nodes[3:6] {
			sh := nd.zones.Get(group)
			if sh == nil {
				return false
			}
			applied, sum, err := sh.FSM().Digest()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case i == 0:
				first, at = sum, applied
			case applied != at:
				return false
			case sum != first:
				t.Fatalf("store member %s at %d: state digest differs from %s's", nd.cfg.NodeID, applied, mc.nodes[3].cfg.NodeID)
			}
		}
		return true
	})
}

// readyz returns the status of GET /readyz on addr.
func readyz(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReadyzMeansEveryShardServes: /readyz answers 200 only when the node
// can serve a user request of every shard: not before the cluster is
// initialized, and not while a zone that owns shards is lost and not yet
// failed over; again once its failover store serves.
func TestReadyzMeansEveryShardServes(t *testing.T) {
	mc := setupZonesInit(t, []string{"A", "B", "C"}, 2, nil, func(mc *multiCluster) {
		time.Sleep(time.Second) // groups elect what they can before init
		for _, a := range mc.apis {
			if code := readyz(t, a); code == http.StatusOK {
				t.Fatalf("%s/readyz answers %d before the cluster is initialized", a, code)
			}
		}
	})
	waitFor(t, 10*time.Second*slow, "every node ready", func() bool {
		for _, a := range mc.apis {
			if readyz(t, a) != http.StatusOK {
				return false
			}
		}
		return true
	})
	mc.loseZone(0, 2)
	waitFor(t, 10*time.Second*slow, "B's and C's nodes not ready with zone A lost", func() bool {
		for _, a := range mc.apis[2:] {
			if readyz(t, a) == http.StatusOK {
				return false
			}
		}
		return true
	})
	admin, _ := client.New(mc.apis[2:], client.WithMaxRetries(20))
	if zs, err := admin.FailoverZone(context.Background(), "A", 30*time.Second*slow, client.Forced()); err != nil || zs.Phase != fsm.PhaseFailover {
		t.Fatalf("failover: %+v %v", zs, err)
	}
	waitFor(t, 10*time.Second*slow, "B's and C's nodes ready with A's store serving", func() bool {
		for _, a := range mc.apis[2:] {
			if readyz(t, a) != http.StatusOK {
				return false
			}
		}
		return true
	})
}

// TestRecoveredZoneNormalOnlyOnceItServes: after a reconciliation routes a
// zone's shards home, the zone is shown normal only once its leader holds
// its lease again (a lease renewed once a second leaves a wide window).
func TestRecoveredZoneNormalOnlyOnceItServes(t *testing.T) {
	mc := setupZonesWith(t, []string{"A", "B", "C"}, 1, func(c *Config) {
		c.LeaseDuration, c.LeaseRenew = 3*time.Second, time.Second
	})
	ctx := context.Background()
	mc.loseZone(0, 1)
	admin, _ := client.New(mc.apis[1:], client.WithMaxRetries(20))
	if zs, err := admin.FailoverZone(ctx, "A", 30*time.Second*slow, client.Forced()); err != nil || zs.Phase != fsm.PhaseFailover {
		t.Fatalf("failover: %+v %v", zs, err)
	}
	mc.restartZone(0, 1)
	resp, err := http.Post("http://"+mc.apis[1]+"/v1/zones/A/recover?wait=0s", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(60 * time.Second * slow)
	for {
		var zs api.ZoneStatus
		getJSON(t, mc.apis[1], "/v1/zones/A", &zs)
		if zs.Phase == fsm.PhaseNormal {
			h := mc.nodes[0].zones.Own()
			if h == nil || !h.Replica().IsLeader() || !mc.nodes[0].zones.LeaseValid(h) {
				t.Fatal("zone A is shown normal while its leader holds no lease")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone A not normal again: %+v", zs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
