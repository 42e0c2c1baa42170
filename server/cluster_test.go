package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/testlog"
	"github.com/rzonedb/rzone/internal/testnet"
)

type testCluster struct {
	t      *testing.T
	cfgs   []Config
	nodes  []*Node
	client *client.Client
}

// fastConfig shortens Raft's timeouts so tests elect quickly.
func fastConfig(id, dir, raftAddr, httpAddr string, log *slog.Logger) Config {
	c := DefaultConfig()
	c.NodeID, c.DataDir, c.RaftAddr, c.HTTPAddr, c.Logger = id, dir, raftAddr, httpAddr, log
	c.Insecure = true
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.PostInterval = 50 * time.Millisecond
	return c
}

func setup(t *testing.T, n int) *testCluster {
	t.Helper()
	return setupWith(t, n, nil)
}

// setupWith is setup with tune applied to every node's config.
func setupWith(t *testing.T, n int, tune func(*Config)) *testCluster {
	t.Helper()
	addrs := testnet.Addrs(t, 2*n)
	dir := t.TempDir()
	log := testlog.New(t, slog.LevelWarn)
	tc := &testCluster{t: t}
	var httpAddrs []string
	for i := 0; i < n; i++ {
		c := fastConfig(fmt.Sprintf("n%d", i+1), filepath.Join(dir, fmt.Sprint(i)), addrs[2*i], addrs[2*i+1], log)
		if i == 0 {
			c.Bootstrap = true
		} else {
			c.Join = addrs[1]
		}
		if tune != nil {
			tune(&c)
		}
		tc.cfgs = append(tc.cfgs, c)
		httpAddrs = append(httpAddrs, c.HTTPAddr)
	}
	for i := range tc.cfgs {
		tc.start(i)
	}
	t.Cleanup(func() {
		for _, nd := range tc.nodes {
			if nd != nil {
				nd.Shutdown(context.Background())
			}
		}
	})
	var err error
	tc.client, err = client.New(httpAddrs, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(30))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "all voters joined", func() bool {
		for _, nd := range tc.nodes {
			if nd.IsLeader() {
				return len(nd.Status().Voters) == n && tc.allRegistered(nd)
			}
		}
		return false
	})
	return tc
}

func (tc *testCluster) allRegistered(nd *Node) bool {
	addrs, _ := nd.FSM().NodeAddrs()
	return len(addrs) == len(tc.cfgs)
}

func (tc *testCluster) start(i int) {
	tc.t.Helper()
	nd, err := Start(tc.cfgs[i])
	if err != nil {
		tc.t.Fatalf("start node %d: %v", i, err)
	}
	if i < len(tc.nodes) {
		tc.nodes[i] = nd
	} else {
		tc.nodes = append(tc.nodes, nd)
	}
}

func (tc *testCluster) leader() int {
	for i, nd := range tc.nodes {
		if nd != nil && nd.IsLeader() {
			return i
		}
	}
	return -1
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	d *= slow
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterPaymentsThroughEveryNode(t *testing.T) {
	tc := setup(t, 3)
	ctx := context.Background()
	if _, err := tc.client.PutAccount(ctx, 7, 100_000); err != nil {
		t.Fatal(err)
	}
	// Every node accepts writes: followers forward to the leader.
	for i, nd := range tc.nodes {
		c, _ := client.New([]string{nd.HTTPAddr()}, client.WithMaxRetries(0))
		p, err := c.Pay(ctx, 7, client.PayRequest{Key: fmt.Sprintf("via-%d", i), Amount: 100, Merchant: "m"})
		if err != nil || p.Status != client.PaymentAccepted {
			t.Fatalf("pay through node %d: %+v %v", i, p, err)
		}
		a, err := c.GetAccount(ctx, 7)
		if err != nil || a.Accepted != int64(100*(i+1)) {
			t.Fatalf("linearizable read through node %d after its own write: %+v %v", i, a, err)
		}
	}
	// Replays, conflicts and refusals keep their codes through forwarding.
	follower, _ := client.New([]string{tc.nodes[(tc.leader()+1)%3].HTTPAddr()}, client.WithMaxRetries(0))
	p, replayed, err := follower.PayReplayed(ctx, 7, client.PayRequest{Key: "via-0", Amount: 100, Merchant: "m"})
	if err != nil || !replayed || p.Key != "via-0" {
		t.Fatalf("replay through follower: %+v %v %v", p, replayed, err)
	}
	if _, err := follower.Pay(ctx, 7, client.PayRequest{Key: "via-0", Amount: 101, Merchant: "m"}); !errors.Is(err, client.ErrIdempotencyConflict) {
		t.Fatalf("conflict through follower: %v", err)
	}
	if _, err := follower.Pay(ctx, 7, client.PayRequest{Key: "big", Amount: 1_000_000, Merchant: "m"}); !errors.Is(err, client.ErrInsufficientCredit) {
		t.Fatalf("overspend: %v", err)
	}
	if _, err := follower.Pay(ctx, 8, client.PayRequest{Key: "x", Amount: 1, Merchant: "m"}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("no account: %v", err)
	}
	// The poster books every payment into the bill.
	waitFor(t, 5*time.Second, "payments posted", func() bool {
		bills, err := tc.client.ListBills(ctx, 7)
		return err == nil && len(bills) == 1 && bills[0].Principal == 300
	})
	if _, err := tc.client.Repay(ctx, 7, client.RepayRequest{Key: "r1", Amount: 301}); !errors.Is(err, client.ErrOverpayment) {
		t.Fatalf("overpayment: %v", err)
	}
	if r, err := tc.client.Repay(ctx, 7, client.RepayRequest{Key: "r2", Amount: 300}); err != nil || r.Status != client.RepaymentApplied {
		t.Fatalf("repay: %+v %v", r, err)
	}
	// Stale reads on each node converge and say they are stale.
	for _, nd := range tc.nodes {
		waitFor(t, 5*time.Second, "replica caught up", func() bool {
			a, err := tc.client.GetAccount(ctx, 7, client.Stale(), client.At(nd.HTTPAddr()))
			return err == nil && a.Used == 0 && a.Repaid == 300
		})
	}
}

func TestLeaderFailoverKeepsAcknowledgedWrites(t *testing.T) {
	tc := setup(t, 3)
	ctx := context.Background()
	if _, err := tc.client.PutAccount(ctx, 1, 1_000_000); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				_, err := tc.client.Pay(cctx, 1, client.PayRequest{Key: key, Amount: 1, Merchant: "m"})
				cancel()
				if err == nil {
					mu.Lock()
					acked[key] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	time.Sleep(300 * time.Millisecond)
	old := tc.leader()
	if err := tc.nodes[old].Shutdown(ctx); err != nil {
		t.Logf("shutdown leader: %v", err)
	}
	tc.nodes[old] = nil
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	tc.start(old)
	payments, err := tc.client.AllPayments(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var sum int64
	for _, p := range payments {
		got[p.Key]++
		sum += p.Amount
	}
	for k := range acked {
		if got[k] != 1 {
			t.Errorf("acknowledged payment %s present %d times", k, got[k])
		}
	}
	a, err := tc.client.GetAccount(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Accepted != sum || a.Used+a.Pending != a.Accepted-a.Repaid {
		t.Fatalf("money: account %+v, payments sum %d", a, sum)
	}
	t.Logf("acknowledged %d payments across a leader change", len(acked))
}

// multiCluster is an in-process multi-zone cluster.
type multiCluster struct {
	t     *testing.T
	cfgs  []Config
	nodes []*Node
	apis  []string
	// hc speaks to the nodes: HTTPS trusting the test CA when they run
	// with a certs dir. adminToken is the token cluster init answered.
	hc         *http.Client
	adminToken string
}

// url is path on the API of node i, with the scheme the nodes speak.
func (mc *multiCluster) url(i int, path string) string {
	if mc.cfgs[i].CertsDir != "" {
		return "https://" + mc.apis[i] + path
	}
	return "http://" + mc.apis[i] + path
}

// setupZones starts zones × perZone cluster-mode nodes and initializes the
// cluster through the first node.
func setupZones(t *testing.T, zones []string, perZone int) *multiCluster {
	t.Helper()
	return setupZonesWith(t, zones, perZone, nil)
}

// setupZonesWith is setupZones with a hook that changes each node's config.
func setupZonesWith(t *testing.T, zones []string, perZone int, tune func(*Config)) *multiCluster {
	t.Helper()
	return setupZonesInit(t, zones, perZone, tune, nil)
}

// setupZonesInit is setupZonesWith with a hook that runs once every node
// runs and gossip sees them all, before the cluster is initialized.
func setupZonesInit(t *testing.T, zones []string, perZone int, tune func(*Config), initHook func(*multiCluster)) *multiCluster {
	t.Helper()
	total := len(zones) * perZone
	addrs := testnet.Addrs(t, 3*total)
	dir := t.TempDir()
	log := testlog.New(t, slog.LevelWarn)
	mc := &multiCluster{t: t}
	var seeds []string
	for i := 0; i < total; i++ {
		z := zones[i/perZone]
		c := fastConfig(fmt.Sprintf("%s%d", strings.ToLower(z), i%perZone+1), filepath.Join(dir, fmt.Sprint(i)), addrs[3*i], addrs[3*i+1], log)
		c.Zone = z
		c.GossipAddr = addrs[3*i+2]
		c.GossipFast = true
		c.LeaseDuration = 1500 * time.Millisecond
		c.LeaseRenew = 250 * time.Millisecond
		if i > 0 {
			c.GossipSeeds = seeds
		}
		seeds = append(seeds, c.GossipAddr)
		if tune != nil {
			tune(&c)
		}
		mc.cfgs = append(mc.cfgs, c)
		mc.apis = append(mc.apis, c.HTTPAddr)
	}
	for i := range mc.cfgs {
		nd, err := Start(mc.cfgs[i])
		if err != nil {
			t.Fatalf("start %s: %v", mc.cfgs[i].NodeID, err)
		}
		mc.nodes = append(mc.nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range mc.nodes {
			if nd != nil {
				nd.Shutdown(context.Background())
			}
		}
	})
	waitFor(t, 15*time.Second, "gossip sees every node", func() bool {
		return len(mc.nodes[0].gossip.Alive()) == total
	})
	if initHook != nil {
		initHook(mc)
	}
	mc.hc = testHTTPClient(t, mc.cfgs[0].CertsDir)
	body, _ := json.Marshal(cluster.InitRequest{Zones: zones})
	resp, err := mc.hc.Post(mc.url(0, "/v1/cluster/init"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("init: %s %s", resp.Status, out)
	}
	var rt api.RouteTable
	json.Unmarshal(out, &rt)
	mc.adminToken = rt.AdminToken
	waitFor(t, 20*time.Second, "every zone has a leader with a lease, owning its shards", func() bool {
		for _, z := range zones {
			ok := false
			for _, nd := range mc.nodes {
				if h := nd.zones.Own(); h != nil && nd.cfg.Zone == z && h.Replica().IsLeader() && nd.zones.LeaseValid(h) && h.Ready() {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
		return true
	})
	return mc
}

func TestMultiZoneRoutingAndFollowers(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 3)
	ctx := context.Background()
	// Every user, through one fixed node, lands in its zone.
	one, _ := client.New([]string{mc.apis[0]}, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(40))
	for u := uint64(0); u < 300; u++ {
		if _, err := one.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatalf("put account %d: %v", u, err)
		}
		if _, err := one.Pay(ctx, u, client.PayRequest{Key: "k", Amount: 100, Merchant: "m"}); err != nil {
			t.Fatalf("pay %d: %v", u, err)
		}
	}
	// Each zone's state machine holds only its own users.
	st := mc.nodes[0].metaFSM.State()
	for _, nd := range mc.nodes {
		h := nd.zones.Own()
		if h == nil || !h.Replica().IsLeader() {
			continue
		}
		for u := uint64(0); u < 300; u++ {
			z, _ := st.Route(u)
			_, err := h.FSM().Account(u)
			if (z == nd.cfg.Zone) != (err == nil) {
				t.Fatalf("user %d (zone %s) in zone %s: %v", u, z, nd.cfg.Zone, err)
			}
		}
	}
	// Async followers in the backup zone catch up and serve stale reads.
	var rt api.RouteTable
	getJSON(t, mc.apis[4], "/v1/routes", &rt)
	if len(rt.Shards) != 100 || len(rt.Zones) != 3 {
		t.Fatalf("routes: %+v", rt)
	}
	waitFor(t, 10*time.Second, "followers caught up", func() bool {
		var zl api.ZoneList
		getJSON(t, mc.apis[0], "/v1/zones", &zl)
		for _, z := range zl.Zones {
			if len(z.Voters) != 3 || len(z.Followers) != 3 || z.Leader == "" {
				return false
			}
			for _, f := range z.Followers {
				if f.State == "unreachable" || f.LagEntries > 0 || f.AppliedIndex == 0 {
					return false
				}
			}
		}
		return true
	})
	// Last contact with the leader: 0 on the leader, a count of
	// milliseconds on a replica that heard from one, never a sentinel.
	var zl api.ZoneList
	getJSON(t, mc.apis[0], "/v1/zones", &zl)
	for _, z := range zl.Zones {
		for _, r := range append(slices.Clone(z.Voters), z.Followers...) {
			switch c := r.LastContactMs; {
			case c == nil:
				t.Errorf("zone %s: %s (%s) reports no contact with its caught-up leader", z.Zone, r.Node, r.State)
			case *c < 0, r.Node == z.Leader && *c != 0:
				t.Errorf("zone %s: %s (%s) reports last contact %d ms", z.Zone, r.Node, r.State, *c)
			}
		}
	}
	// A user of zone A read stale from a node of B (A's backup) is served
	// by B's local follower replica.
	var userA uint64
	for u := uint64(0); ; u++ {
		if z, _ := st.Route(u); z == "A" {
			userA = u
			break
		}
	}
	bNode := mc.apis[3]
	req, _ := http.NewRequest("GET", "http://"+bNode+fmt.Sprintf("/v1/accounts/%d?stale=true", userA), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(HeaderStale) != "true" || resp.Header.Get(HeaderNode) != "b1" {
		t.Fatalf("stale read of a zone-A user at b1: %d node %s stale %s", resp.StatusCode, resp.Header.Get(HeaderNode), resp.Header.Get(HeaderStale))
	}

	// A batch across every zone, sent to one node, settles each payment as
	// a single request would, in order.
	var batch []client.BatchPayment
	for u := uint64(0); u < 300; u++ {
		batch = append(batch, client.BatchPayment{User: u, Key: "batch-1", Amount: 7, Merchant: "m"})
	}
	batch = append(batch,
		client.BatchPayment{User: 5, Key: "k", Amount: 100, Merchant: "m"},        // replay of the first loop's payment
		client.BatchPayment{User: 6, Key: "k", Amount: 99, Merchant: "m"},         // same key, other amount
		client.BatchPayment{User: 7, Key: "bad key", Amount: 1, Merchant: "m"},    // invalid
		client.BatchPayment{User: 8, Key: "huge", Amount: 999_999, Merchant: "m"}) // over the limit
	fixed, _ := client.New([]string{mc.apis[4]}, client.WithRouting(false))
	res, err := fixed.PayBatch(ctx, batch)
	if err != nil || len(res) != len(batch) {
		t.Fatalf("batch: %v (%d results)", err, len(res))
	}
	for i := 0; i < 300; i++ {
		if res[i].Status != 201 || res[i].Payment == nil || res[i].Payment.User != uint64(i) {
			t.Fatalf("batch item %d: %+v", i, res[i])
		}
	}
	wantTail := []int{200, 409, 400, 422}
	for j, want := range wantTail {
		if r := res[300+j]; r.Status != want {
			t.Fatalf("batch item %d: status %d, want %d (%+v)", 300+j, r.Status, want, r.Error)
		}
	}
	again, err := one.PayBatch(ctx, batch[:300])
	if err != nil || again[0].Status != 200 || again[299].Status != 200 {
		t.Fatalf("batch replay: %v %+v", err, again[0])
	}
	if a, err := one.GetAccount(ctx, 299); err != nil || a.Accepted != 107 {
		t.Fatalf("account after the batches: %+v %v", a, err)
	}

	// An account batch through one node without routes: each account is
	// created in its own zone, an invalid limit is refused alone, and a
	// lowered limit below the credit in use is refused as a single PUT is.
	accts := []client.BatchAccount{{User: 1000, CreditLimit: 5000}, {User: 1001, CreditLimit: -1},
		{User: 1002, CreditLimit: 7000}, {User: 299, CreditLimit: 1}}
	ares, err := fixed.PutAccounts(ctx, accts)
	if err != nil || len(ares) != len(accts) {
		t.Fatalf("account batch: %v (%d results)", err, len(ares))
	}
	for i, want := range []int{200, 400, 200, 400} {
		if ares[i].Status != want {
			t.Fatalf("account batch item %d: status %d, want %d (%+v)", i, ares[i].Status, want, ares[i].Error)
		}
	}
	if ares[2].Account == nil || ares[2].Account.User != 1002 || ares[2].Account.CreditLimit != 7000 {
		t.Fatalf("account batch item 2: %+v", ares[2].Account)
	}
	if a, err := one.GetAccount(ctx, 1000); err != nil || a.CreditLimit != 5000 {
		t.Fatalf("account 1000 after the batch: %+v %v", a, err)
	}
	if _, err := one.GetAccount(ctx, 1001); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("account 1001 (refused in the batch): %v", err)
	}

	// The config store is versioned, compare-and-set, and replicated to
	// every node's meta replica.
	it, err := one.SetConfig(ctx, "sched/whitelist", "1,2,3", 0)
	if err != nil || it.Version != 1 {
		t.Fatalf("set config: %+v %v", it, err)
	}
	if _, err := one.SetConfig(ctx, "sched/whitelist", "4", 7); !errors.Is(err, client.ErrVersionConflict) {
		t.Fatalf("compare-and-set with a wrong version: %v", err)
	}
	if it, err := one.SetConfig(ctx, "sched/whitelist", "4", 1); err != nil || it.Version != 2 {
		t.Fatalf("compare-and-set: %+v %v", it, err)
	}
	far, _ := client.New([]string{mc.apis[8]})
	waitFor(t, 5*time.Second, "config on c3", func() bool {
		it, err := far.GetConfig(ctx, "sched/whitelist")
		return err == nil && it.Value == "4" && it.Version == 2
	})
}

func getJSON(t *testing.T, addr, path string, out any) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func TestShardMoveUnderLoad(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 3)
	ctx := context.Background()
	c, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 200*time.Millisecond), client.WithMaxRetries(40))
	// Users 17, 117, 217 live in shard 17 (zone of 17 % 3).
	users := []uint64{17, 117, 217}
	st := mc.nodes[0].metaFSM.State()
	from := st.Shards[17].Zone
	to := "A"
	if from == "A" {
		to = "B"
	}
	for _, u := range users {
		if _, err := c.PutAccount(ctx, u, 10_000_000); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	ackedPay := map[string]uint64{}
	ackedRepay := map[string]int64{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := users[(w+i)%len(users)]
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				if w == 5 && i%3 == 0 {
					key := fmt.Sprintf("r%d-%d", w, i)
					if _, err := c.Repay(cctx, u, client.RepayRequest{Key: key, Amount: 1}); err == nil {
						mu.Lock()
						ackedRepay[fmt.Sprintf("%d/%s", u, key)] = 1
						mu.Unlock()
					}
				} else {
					key := fmt.Sprintf("p%d-%d", w, i)
					if _, err := c.Pay(cctx, u, client.PayRequest{Key: key, Amount: 3, Merchant: "m"}); err == nil {
						mu.Lock()
						ackedPay[key] = u
						mu.Unlock()
					} else if !client.IsRetryable(err) {
						t.Errorf("pay %s: %v", key, err)
					}
				}
				cancel()
			}
		}(w)
	}
	time.Sleep(700 * time.Millisecond)
	moveStart := time.Now()
	mover, _ := client.New([]string{mc.apis[7]}, client.WithMaxRetries(20))
	out, err := mover.MoveShard(ctx, 17, to)
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	if out.Shards[17].Zone != to || out.Epoch < 3 {
		t.Fatalf("move: %+v epoch %d", out.Shards[17], out.Epoch)
	}
	t.Logf("moved shard 17 from %s to %s in %s", from, to, time.Since(moveStart))
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Every acknowledged write is in the new zone exactly once, and the money
	// identity holds; the old zone refuses the shard.
	var payTotal int64
	for _, u := range users {
		ps, err := c.AllPayments(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		var sum int64
		for _, p := range ps {
			if seen[p.Key] {
				t.Fatalf("payment %s twice", p.Key)
			}
			seen[p.Key] = true
			sum += p.Amount
		}
		for k, owner := range ackedPay {
			if owner == u && !seen[k] {
				t.Errorf("acknowledged payment %s of user %d lost in the move", k, u)
			}
		}
		a, err := c.GetAccount(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if a.Accepted != sum || a.Used+a.Pending != a.Accepted-a.Repaid || a.Used < 0 {
			t.Fatalf("user %d money: %+v, payments sum %d", u, a, sum)
		}
		payTotal += sum
		for k := range ackedRepay {
			var ru uint64
			var key string
			fmt.Sscanf(k, "%d/%s", &ru, &key)
			if ru == u {
				if _, err := c.GetRepayment(ctx, u, key); err != nil {
					t.Errorf("acknowledged repayment %s lost: %v", k, err)
				}
			}
		}
	}
	for _, nd := range mc.nodes {
		if h := nd.zones.Own(); h != nil && nd.cfg.Zone == from && h.Replica().IsLeader() {
			owned, _, _ := h.FSM().Shards()
			if _, ok := owned[17]; ok {
				t.Fatalf("old zone %s still owns shard 17", from)
			}
		}
	}
	t.Logf("%d payments and %d repayments acknowledged across the move; %d minor units paid", len(ackedPay), len(ackedRepay), payTotal)
	if len(ackedPay) == 0 {
		t.Fatal("no payment was acknowledged")
	}
}

// TestLeaseFenceStopsACutOffZone stops two of the three meta voters (b1 and
// c1), so no zone can renew its lease; zone A's leader must refuse writes
// from the moment its lease runs out by its own clock.
func TestLeaseFenceStopsACutOffZone(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 3)
	ctx := context.Background()
	st := mc.nodes[0].metaFSM.State()
	var userA uint64
	for u := uint64(0); ; u++ {
		if z, _ := st.Route(u); z == "A" {
			userA = u
			break
		}
	}
	c, _ := client.New(mc.apis[:3], client.WithMaxRetries(0), client.WithTimeout(2*time.Second))
	if _, err := c.PutAccount(ctx, userA, 1_000_000); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 6} { // b1, c1: meta voters with a1
		if nd, _ := st.Node(mc.nodes[i].ID()); !nd.MetaVoter {
			t.Fatalf("%s is not a meta voter", nd.ID)
		}
		mc.nodes[i].Shutdown(ctx)
		mc.nodes[i] = nil
	}
	cut := time.Now()
	t.Logf("stopped meta voters b1 and c1 at %s", cut.Format(time.StampMilli))
	var lastOK time.Time
	var refused, other int
	deadline := time.Now().Add(3 * slow * mc.cfgs[0].LeaseDuration)
	for i := 0; time.Now().Before(deadline) && refused < 5; i++ {
		_, err := c.Pay(ctx, userA, client.PayRequest{Key: fmt.Sprintf("k%d", i), Amount: 1, Merchant: "m"})
		now := time.Now()
		switch {
		case err == nil:
			lastOK = now
		case errors.Is(err, client.ErrLeaseExpired):
			refused++
		default:
			other++
		}
		time.Sleep(20 * time.Millisecond)
	}
	expiry := cut.Add(mc.cfgs[0].LeaseDuration) // the lease was renewed at most at the cut
	t.Logf("last accepted write %s after the cut; lease expiry at most %s after; %d writes refused with lease_expired, %d failed otherwise",
		lastOK.Sub(cut), mc.cfgs[0].LeaseDuration, refused, other)
	if !lastOK.IsZero() && lastOK.After(expiry) {
		t.Fatalf("zone A accepted a write %s after its lease expired", lastOK.Sub(expiry))
	}
	if refused == 0 {
		t.Fatal("no write was refused with lease_expired")
	}
}
