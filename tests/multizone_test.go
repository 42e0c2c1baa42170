package tests

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
)

// The tests in this file run a cluster of three zones of three real
// `rzone server` processes each (cluster.Config.Zones) and show, one by
// one, what issue 3 asks of a multi-zone rzone: routing straight to the
// owner, a shard move under load, the lease fence of a cut-off zone, async
// followers catching up, and gossip failure detection.

var zoneNames = []string{"A", "B", "C"}

// startZones starts a 3-zone × 3-node cluster for t, skipping when the
// binary has no cluster mode yet.
func startZones(t *testing.T, serverArgs ...string) *cluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts 9 real processes")
	}
	bin := cluster.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if ok, err := cluster.ServerSupports(ctx, bin, "gossip-addr"); err != nil || !ok {
		t.Skipf("rzone server has no cluster mode (--gossip-addr), skipping: %v", err)
	}
	start := time.Now()
	c := cluster.Require(t, cluster.Config{
		Binary:         bin,
		Zones:          zoneNames,
		NodesPerZone:   3,
		RequestTimeout: 3 * time.Second,
		ServerArgs:     serverArgs,
	})
	t.Logf("3 zones × 3 nodes ready in %s", time.Since(start).Round(time.Millisecond))
	return c
}

// shardUsers returns, for each zone, users with ids base+s+100k (shard s)
// whose shard the route table gives to the zone, perShard users per shard.
func shardUsers(rt *api.RouteTable, base uint64, perShard int) map[string][]uint64 {
	out := map[string][]uint64{}
	for _, sr := range rt.Shards {
		for k := 0; k < perShard; k++ {
			u := base + uint64(sr.Shard) + 100*uint64(k)
			out[sr.Zone] = append(out[sr.Zone], u)
		}
	}
	return out
}

// forwardedTotal sums rzone_forwarded_requests_total (every outcome) over
// the running nodes and returns the sum and each node's count.
func forwardedTotal(ctx context.Context, t *testing.T, c *cluster.Cluster) (float64, map[string]float64) {
	t.Helper()
	per := map[string]float64{}
	var sum float64
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		m, err := n.Metrics(ctx)
		if err != nil {
			t.Fatalf("metrics of %s: %v", n.ID, err)
		}
		v := m.Sum("rzone_forwarded_requests_total")
		per[n.ID] = v
		sum += v
	}
	return sum, per
}

func diffCounts(after, before map[string]float64) string {
	var ids []string
	for id := range after {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var parts []string
	for _, id := range ids {
		if d := after[id] - before[id]; d != 0 {
			parts = append(parts, fmt.Sprintf("%s:%.0f", id, d))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// payFunc sends one payment and returns its error.
type payFunc func(ctx context.Context, user uint64, req api.PayRequest) error

// payAll pays one payment for each of users (in an order shuffled by rng)
// with workers goroutines, and returns the amount acknowledged per user.
// Any failure fails t.
func payAll(ctx context.Context, t *testing.T, users []uint64, rng *rand.Rand, keyPrefix string, workers int, pay payFunc) map[uint64]int64 {
	t.Helper()
	type job struct {
		user   uint64
		key    string
		amount int64
	}
	jobs := make([]job, len(users))
	for i, u := range users {
		jobs[i] = job{u, fmt.Sprintf("%s-%d-%d", keyPrefix, u, i), 1 + rng.Int64N(500)}
	}
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	ch := make(chan job)
	var mu sync.Mutex
	paid := map[uint64]int64{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				err := pay(cctx, j.user, api.PayRequest{Key: j.key, Amount: j.amount, Merchant: "mz"})
				cancel()
				if err != nil {
					t.Errorf("pay %s for user %d: %v", j.key, j.user, err)
					continue
				}
				mu.Lock()
				paid[j.user] += j.amount
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return paid
}

// payVia returns a payFunc of the Go client cl.
func payVia(cl *client.Client) payFunc {
	return func(ctx context.Context, user uint64, req api.PayRequest) error {
		_, err := cl.Pay(ctx, user, client.PayRequest(req))
		return err
	}
}

// payAt returns a payFunc that sends every attempt to node n and nowhere
// else, retrying retryable errors with the same key (at most 20 attempts).
func payAt(n *cluster.Node) payFunc {
	return func(ctx context.Context, user uint64, req api.PayRequest) error {
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			if _, _, err = n.API().Pay(ctx, user, req); err == nil || !httpapi.Retryable(err) || ctx.Err() != nil {
				return err
			}
			time.Sleep(time.Duration(20*(attempt+1)) * time.Millisecond)
		}
		return err
	}
}

const payRoute = "route=POST /v1/accounts/{user}/payments"

// received returns how many payment requests (any reply) node n has
// received, forwarded ones included.
func received(ctx context.Context, t *testing.T, n *cluster.Node) float64 {
	t.Helper()
	m, err := n.Metrics(ctx)
	if err != nil {
		t.Fatalf("metrics of %s: %v", n.ID, err)
	}
	return m.Sum("rzone_http_requests_total", payRoute)
}

// TestMultiZoneDirectRouting pays for two users of every one of the 100
// shards three times over: through the routing client, through one entry
// node that leads no zone (the harness's own one-node client), and through
// the Go client fixed on that node with WithRouting(false). It counts the
// requests the nodes forwarded (rzone_forwarded_requests_total summed over
// the nodes): near zero with routing, nearly all through the entry node.
func TestMultiZoneDirectRouting(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	c := startZones(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	rt, err := c.Up().Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perZone := map[string]int{}
	for _, s := range rt.Shards {
		perZone[s.Zone]++
	}
	t.Logf("route epoch %d, shards per zone %v", rt.Epoch, perZone)
	if len(rt.Shards) != 100 || len(perZone) != 3 {
		t.Fatalf("route table: %d shards over zones %v, want 100 over 3", len(rt.Shards), perZone)
	}
	for z, k := range perZone {
		if k < 33 || k > 34 {
			t.Errorf("zone %s owns %d shards, want 33 or 34 (an even spread)", z, k)
		}
	}

	byZone := shardUsers(rt, 910_000, 2)
	var users []uint64
	for _, z := range zoneNames {
		users = append(users, byZone[z]...)
	}
	n := float64(len(users))
	routed, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(10),
		client.WithBackoff(20*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := routed.PutAccount(ctx, u, 1_000_000); err != nil {
			t.Fatalf("create account %d: %v", u, err)
		}
	}

	// 1. The routing client sends each request straight to the owner's
	// leader.
	d0, o0 := routed.RouteStats()
	before, beforePer := forwardedTotal(ctx, t, c)
	start := time.Now()
	paid1 := payAll(ctx, t, users, rng, "direct", 6, payVia(routed))
	took := time.Since(start)
	after, afterPer := forwardedTotal(ctx, t, c)
	d1, o1 := routed.RouteStats()
	fwdRouted := after - before
	t.Logf("1. routing client: %d payments over 100 shards in %s; it sent %d straight to the owner's leader, %d elsewhere; nodes forwarded %.0f (%s)",
		len(users), took.Round(time.Millisecond), d1-d0, o1-o0, fwdRouted, diffCounts(afterPer, beforePer))

	// 2. Every request through one entry node that leads no zone: each
	// has to be forwarded to the owner.
	leaders := map[string]bool{}
	for _, z := range zoneNames {
		l, err := c.WaitZoneLeader(ctx, z)
		if err != nil {
			t.Fatal(err)
		}
		leaders[l.ID] = true
	}
	var candidates []*cluster.Node
	for _, nd := range c.Nodes {
		if !leaders[nd.ID] {
			candidates = append(candidates, nd)
		}
	}
	entry := candidates[rng.IntN(len(candidates))]
	before, beforePer = after, afterPer
	start = time.Now()
	paid2 := payAll(ctx, t, users, rng, "entry", 6, payAt(entry))
	took = time.Since(start)
	after, afterPer = forwardedTotal(ctx, t, c)
	fwdEntry := after - before
	t.Logf("2. every request to entry node %s: %d payments in %s; nodes forwarded %.0f (%s)",
		entry.ID, len(users), took.Round(time.Millisecond), fwdEntry, diffCounts(afterPer, beforePer))

	// 3. The Go client given only the entry node, with routing off.
	fixed, err := client.New([]string{entry.HTTPAddr}, append(c.Security().ClientOptions(), client.WithRouting(false), client.WithTimeout(3*time.Second),
		client.WithMaxRetries(10), client.WithBackoff(20*time.Millisecond, 500*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	before, beforePer = after, afterPer
	recv0 := received(ctx, t, entry)
	start = time.Now()
	paid3 := payAll(ctx, t, users, rng, "fixed", 6, payVia(fixed))
	took = time.Since(start)
	after, afterPer = forwardedTotal(ctx, t, c)
	atEntry := received(ctx, t, entry) - recv0
	fwdFixed := after - before
	t.Logf("3. Go client on %s with WithRouting(false): %d payments in %s; %s received %.0f of them; nodes forwarded %.0f (%s)",
		entry.ID, len(users), took.Round(time.Millisecond), entry.ID, atEntry, fwdFixed, diffCounts(afterPer, beforePer))

	// Every user's account holds exactly what was paid.
	for _, u := range users {
		a, err := routed.GetAccount(ctx, u)
		if err != nil {
			t.Fatalf("account %d: %v", u, err)
		}
		if want := paid1[u] + paid2[u] + paid3[u]; a.Accepted != want || a.Used+a.Pending != a.Accepted-a.Repaid {
			t.Errorf("user %d: accepted %d used %d pending %d repaid %d, want accepted %d", u, a.Accepted, a.Used, a.Pending, a.Repaid, want)
		}
	}
	t.Logf("%d accounts hold exactly the %d payments made to them", len(users), 3*len(users))

	t.Logf("forwarded requests of %d each: %.0f with the routing client, %.0f through entry node %s, %.0f with WithRouting(false) on it",
		len(users), fwdRouted, fwdEntry, entry.ID, fwdFixed)
	if fwdRouted > 0.02*n {
		t.Errorf("routing client: nodes forwarded %.0f of %d requests, want near zero (at most 2%%)", fwdRouted, len(users))
	}
	if fwdEntry < 0.95*n {
		t.Errorf("entry node %s: nodes forwarded %.0f of %d requests, want nearly all (at least 95%%)", entry.ID, fwdEntry, len(users))
	}
	if atEntry < n {
		t.Errorf("client.WithRouting(false) given only %s sent just %.0f of %d payments to it: it follows the X-Rzone-Leader "+
			"of forwarded replies, while its documentation says every request goes to the given addresses", entry.ID, atEntry, len(users))
	}
}

// moveOp is one write of the shard-move workload.
type moveOp struct {
	user   uint64
	key    string
	amount int64
	repay  bool
}

// TestShardMoveWithRealProcesses moves one shard (chosen by the seed) to
// another zone while workers pay and repay for three of its users through
// the routing client, which retries every retryable error with the same
// key. Afterwards, on every voter of the new zone, each acknowledged
// payment is present exactly once with its amount, nothing unknown was
// added, each acknowledged repayment is applied, and the money identity
// holds.
func TestShardMoveWithRealProcesses(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	c := startZones(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	rt, err := c.Up().Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shard := rng.IntN(100)
	from := rt.Shards[shard].Zone
	var others []string
	for _, z := range zoneNames {
		if z != from {
			others = append(others, z)
		}
	}
	to := others[rng.IntN(len(others))]
	users := []uint64{920_000 + uint64(shard), 920_100 + uint64(shard), 920_200 + uint64(shard)}
	t.Logf("moving shard %d (users %v) from zone %s to zone %s", shard, users, from, to)

	cl, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(30),
		client.WithBackoff(20*time.Millisecond, 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := cl.PutAccount(ctx, u, 1_000_000_000); err != nil {
			t.Fatalf("create account %d: %v", u, err)
		}
	}

	var (
		mu             sync.Mutex
		ackedPay       = map[string]moveOp{} // key → op, acknowledged
		ackedRepay     = map[string]moveOp{}
		unknown        = map[string]moveOp{} // gave up without an answer: may or may not be applied
		refused        = map[string]moveOp{} // overpayment: stored as refused
		sentDuringMove atomic.Int64
		moving         atomic.Bool
		stop           = make(chan struct{})
		wg             sync.WaitGroup
		workers        = 6
		repayEvery     = 4 // every 4th write of a worker is a repayment
	)
	for w := 0; w < workers; w++ {
		wrng := rand.New(rand.NewPCG(uint64(seed), uint64(100+w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				op := moveOp{user: users[wrng.IntN(len(users))], amount: 1 + wrng.Int64N(100)}
				if i%repayEvery == repayEvery-1 {
					op.repay, op.key, op.amount = true, fmt.Sprintf("mv-r%d-%d", w, i), 1+wrng.Int64N(20)
				} else {
					op.key = fmt.Sprintf("mv-p%d-%d", w, i)
				}
				if moving.Load() {
					sentDuringMove.Add(1)
				}
				cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				var err error
				if op.repay {
					var r *client.Repayment
					if r, err = cl.Repay(cctx, op.user, client.RepayRequest{Key: op.key, Amount: op.amount}); err == nil && r.Status != "applied" {
						err = fmt.Errorf("repayment %s status %q", op.key, r.Status)
					}
				} else {
					_, err = cl.Pay(cctx, op.user, client.PayRequest{Key: op.key, Amount: op.amount, Merchant: "move"})
				}
				cancel()
				mu.Lock()
				switch {
				case err == nil && op.repay:
					ackedRepay[op.key] = op
				case err == nil:
					ackedPay[op.key] = op
				case errors.Is(err, client.ErrOverpayment):
					refused[op.key] = op
				case client.IsRetryable(err):
					unknown[op.key] = op
				default:
					t.Errorf("%s: %v", op.key, err)
				}
				mu.Unlock()
			}
		}()
	}

	time.Sleep(1500 * time.Millisecond)
	// Any node may run the move: take one of the third zone.
	var mover *cluster.Node
	for _, z := range others {
		if z != to {
			mover = c.ZoneNodes(z)[1]
		}
	}
	mu.Lock()
	beforeMove := len(ackedPay) + len(ackedRepay)
	mu.Unlock()
	d0, o0 := cl.RouteStats()
	moving.Store(true)
	moveStart := time.Now()
	// The move is an operation: the client follows it until it is done
	// and reads the route table after it.
	var moved client.RouteTable
	moverCl, err := client.New([]string{mover.HTTPAddr}, append(c.Security().ClientOptions(), client.WithTimeout(10*time.Second), client.WithMaxRetries(10))...)
	if err != nil {
		t.Fatal(err)
	}
	if rt, merr := moverCl.MoveShard(ctx, shard, to); merr == nil {
		moved = *rt
	} else {
		err = merr
	}
	moveTook := time.Since(moveStart)
	moving.Store(false)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("move shard %d to %s through %s: %v", shard, to, mover.ID, err)
	}
	t.Logf("moved shard %d %s→%s through %s in %s; route epoch %d→%d; %d writes acknowledged before the move, %d sent while it ran",
		shard, from, to, mover.ID, moveTook.Round(time.Millisecond), rt.Epoch, moved.Epoch, beforeMove, sentDuringMove.Load())
	if moved.Shards[shard].Zone != to || moved.Shards[shard].Target != "" {
		t.Fatalf("route of shard %d after the move: %+v", shard, moved.Shards[shard])
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	d1, o1 := cl.RouteStats()
	t.Logf("workload: %d payments and %d repayments acknowledged, %d repayments refused (overpayment), %d writes without an answer; "+
		"from the move on the client sent %d attempts to the owner's known leader and %d to other nodes (retries and redirects, same keys)",
		len(ackedPay), len(ackedRepay), len(refused), len(unknown), d1-d0, o1-o0)
	if len(ackedPay) == 0 || len(ackedRepay) == 0 {
		t.Fatalf("workload too thin: %d payments, %d repayments acknowledged", len(ackedPay), len(ackedRepay))
	}

	// The new zone lists the shard, the old one no longer does.
	zl, err := c.WaitZonesReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if zs := cluster.ZoneStatus(zl, to); zs == nil || !slices.Contains(zs.Shards, shard) {
		t.Errorf("zone %s does not list shard %d after the move", to, shard)
	}
	if zs := cluster.ZoneStatus(zl, from); zs == nil || slices.Contains(zs.Shards, shard) {
		t.Errorf("zone %s still lists shard %d after the move", from, shard)
	}

	// Every voter of the new zone holds every acknowledged write once.
	applied, err := c.WaitZoneConverged(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("zone %s's voters agree at applied index %d", to, applied)
	for _, n := range c.ZoneNodes(to) {
		checkMovedUsers(ctx, t, cl, n, users, ackedPay, ackedRepay, unknown, refused)
	}
}

// checkMovedUsers reads users on node n's own replica (stale reads, which
// the node serves from its replica of the user's zone) and checks the
// acknowledged writes and the money identity.
func checkMovedUsers(ctx context.Context, t *testing.T, cl *client.Client, n *cluster.Node, users []uint64,
	ackedPay, ackedRepay, unknown, refused map[string]moveOp) {
	t.Helper()
	at := []client.ReadOption{client.At(n.HTTPAddr), client.Stale()}
	var found, extra int
	for _, u := range users {
		ps, err := cl.AllPayments(ctx, u, at...)
		if err != nil {
			t.Fatalf("payments of %d on %s: %v", u, n.ID, err)
		}
		seen := map[string]int{}
		var sum int64
		for _, p := range ps {
			seen[p.Key]++
			if p.Status == "accepted" || p.Status == "posted" {
				sum += p.Amount
			}
			op, acked := ackedPay[p.Key]
			if !acked {
				op = unknown[p.Key]
			}
			switch {
			case op.key == "":
				t.Errorf("%s: user %d has payment %s that no worker sent", n.ID, u, p.Key)
			case op.user != u || op.amount != p.Amount || op.repay:
				t.Errorf("%s: payment %s is %d for user %d, sent %d for user %d", n.ID, p.Key, p.Amount, u, op.amount, op.user)
			case !acked:
				extra++
			}
		}
		for k, c := range seen {
			if c != 1 {
				t.Errorf("%s: payment %s of user %d listed %d times", n.ID, k, u, c)
			}
		}
		var ackedRepaid, unknownRepaid int64
		for k, op := range ackedPay {
			if op.user == u {
				if seen[k] == 0 {
					t.Errorf("%s: acknowledged payment %s of user %d is missing", n.ID, k, u)
				} else {
					found++
				}
			}
		}
		for k, op := range ackedRepay {
			if op.user != u {
				continue
			}
			ackedRepaid += op.amount
			r, err := cl.GetRepayment(ctx, u, k, at...)
			if err != nil || r.Status != "applied" || r.Amount != op.amount {
				t.Errorf("%s: acknowledged repayment %s of user %d: %+v, %v", n.ID, k, u, r, err)
			}
		}
		for _, op := range unknown {
			if op.user == u && op.repay {
				unknownRepaid += op.amount
			}
		}
		for k, op := range refused {
			if op.user == u {
				if r, err := cl.GetRepayment(ctx, u, k, at...); err == nil && r.Status == "applied" {
					t.Errorf("%s: repayment %s was refused to the client but is applied", n.ID, k)
				}
			}
		}
		a, err := cl.GetAccount(ctx, u, at...)
		if err != nil {
			t.Fatalf("account %d on %s: %v", u, n.ID, err)
		}
		if a.Accepted != sum {
			t.Errorf("%s: user %d accepted %d, payments sum to %d", n.ID, u, a.Accepted, sum)
		}
		if a.Used+a.Pending != a.Accepted-a.Repaid || a.Used < 0 || a.Pending < 0 {
			t.Errorf("%s: user %d money identity broken: used %d + pending %d != accepted %d - repaid %d", n.ID, u, a.Used, a.Pending, a.Accepted, a.Repaid)
		}
		if a.Repaid < ackedRepaid || a.Repaid > ackedRepaid+unknownRepaid {
			t.Errorf("%s: user %d repaid %d, acknowledged repayments %d (+%d without an answer)", n.ID, u, a.Repaid, ackedRepaid, unknownRepaid)
		}
	}
	t.Logf("%s (zone %s): %d of %d acknowledged payments present once each, %d more from writes without an answer; identity used+pending == accepted-repaid holds",
		n.ID, n.Zone, found, len(ackedPay), extra)
}
