package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
)

// TestZoneLossFailover is the zone-loss test of the failover design, on 9
// real processes: payers and repayers run with retries (same key) against
// a 3-zone cluster with automatic failover on; every node of zone A is
// killed with SIGKILL; the meta leader fails A over once its lease has been
// expired for the configured half second; the load keeps running (payments for
// A's users succeed in the failover store in B, repayments of isolated
// accounts get account_isolated, others go on); A is restarted, refuses
// writes while failed over, and is reconciled, with the meta leader (which
// drives the reconciliation) killed as soon as it has begun and restarted a
// second later. Over the whole history it
// checks: no acknowledged payment missing, no key charged twice, no
// repayment accepted for a blacklisted account during failover, and the
// money identity of every account. It prints the time from the kill to the
// first payment accepted in B and the reconciliation's duration.
func TestZoneLossFailover(t *testing.T) {
	seed := testSeed(t)
	c := startZones(t, "--pprof")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admin, err := c.Client(client.WithMaxRetries(30), client.WithBackoff(50*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetConfig(ctx, "failover.auto_after", "500ms", 0); err != nil {
		t.Fatal(err)
	}
	rt, err := admin.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	zoneOf := func(u uint64) string { return rt.Shards[u%uint64(len(rt.Shards))].Zone }
	var users, usersA []uint64
	for u := uint64(1); len(users) < 60; u++ {
		users = append(users, u)
		if zoneOf(u) == "A" {
			usersA = append(usersA, u)
		}
	}
	const limit = 10_000_000
	for _, u := range users {
		if _, err := admin.PutAccount(ctx, u, limit); err != nil {
			t.Fatalf("account %d: %v", u, err)
		}
	}

	h := newFailoverHistory(c)
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.payer(load, c.HTTPAddrs(), users, seed+int64(w), w)
		}()
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.repayer(load, c.HTTPAddrs(), users, seed+100+int64(w), w)
		}()
	}

	time.Sleep(3 * time.Second)
	if err := c.KillZone("A"); err != nil {
		t.Fatal(err)
	}
	killed := time.Now() // every node of A is dead from here on
	t.Logf("nemesis: SIGKILL of every node of zone A at +%s", killed.Sub(h.start).Round(time.Millisecond))
	var zs *client.ZoneStatus
	waitCond(t, ctx, 30*time.Second, "zone A failed over", func() bool {
		zs, err = admin.Zone(ctx, "A")
		return err == nil && zs.Phase == "failover"
	})
	firstB := waitFirstPayment(t, ctx, h, usersA, killed)
	t.Logf("zone A failed over to store %s (seed %s, blacklist %d); first payment for a zone-A user accepted %s after the kill",
		zs.Failover.Store, zs.Failover.Seed, zs.Failover.Blacklist, firstB.Sub(killed).Round(time.Millisecond))
	if d := firstB.Sub(killed); d > 10*time.Second {
		t.Errorf("first payment in B came %s after the zone's loss", d)
	}
	blacklist := zs.Failover.Isolated
	time.Sleep(4 * time.Second) // load on the failover store

	// A returns, refuses writes while failed over, and is reconciled.
	if err := c.RestartNodes(ctx, c.ZoneNodes("A")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	// A write sent to a node of A is served by the failover store (the
	// node forwards it there), never by A's own group.
	for _, n := range c.ZoneNodes("A") {
		body := strings.NewReader(`{"key":"direct-` + n.ID + `","amount":1,"merchant":"m"}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL(fmt.Sprintf("/v1/accounts/%d/payments", usersA[0])), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := n.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		served := resp.Header.Get("X-Rzone-Node")
		if resp.StatusCode < 300 {
			if sn := c.Node(served); sn == nil || sn.Zone != "B" {
				t.Fatalf("a write sent to %s of the failed-over zone was accepted by %q, not by the store in B", n.ID, served)
			}
		}
		t.Logf("write sent to %s while failed over: %d, served by %s", n.ID, resp.StatusCode, served)
	}
	// Reconciliation, with the meta leader (which drives it) killed as soon
	// as it has begun, and restarted: the next meta leader finishes it.
	recStart := time.Now()
	type recResult struct {
		zs  *client.ZoneStatus
		err error
	}
	recDone := make(chan recResult, 1)
	go func() {
		zs, err := admin.RecoverZone(ctx, "A", 90*time.Second)
		recDone <- recResult{zs, err}
	}()
	watch, _ := c.Client(client.WithMaxRetries(5))
	waitCond(t, ctx, 30*time.Second, "zone A reconciling", func() bool {
		z, err := watch.Zone(ctx, "A")
		return err == nil && z.Phase != "failover"
	})
	if ml := metaLeader(ctx, c); ml != nil {
		if err := ml.Kill(); err != nil {
			t.Fatal(err)
		}
		z, _ := watch.Zone(ctx, "A")
		phase := "?"
		if z != nil {
			phase = z.Phase
		}
		t.Logf("nemesis: SIGKILL of the meta leader %s %s after the recover command (phase then: %s)", ml.ID, time.Since(recStart).Round(time.Millisecond), phase)
		time.Sleep(time.Second)
		if err := c.RestartNodes(ctx, []*cluster.Node{ml}); err != nil {
			t.Fatal(err)
		}
	}
	res := <-recDone
	zs, err = res.zs, res.err
	if err != nil || zs.Phase != "normal" {
		t.Fatalf("recover: %+v %v", zs, err)
	}
	// The shards went home when the meta group applied the finish; no
	// acknowledgement before that can have come from zone A itself.
	recovered, err := time.Parse(time.RFC3339Nano, zs.Failover.Recovered)
	if err != nil {
		t.Fatalf("recovered time %q: %v", zs.Failover.Recovered, err)
	}
	rep := zs.Failover.Report
	t.Logf("reconciled in %s (server: %dms): %d shards, %d accounts took the store's state, %d kept, %d payments merged, %d duplicates voided, %d violations",
		time.Since(recStart).Round(time.Millisecond), rep.DurationMs, rep.Shards, rep.Taken, rep.Kept, rep.Merged, len(rep.Voided), len(rep.Violations))
	if len(rep.Violations) > 0 {
		t.Errorf("guard-mark invariant violated for accounts %v", rep.Violations)
	}
	time.Sleep(2 * time.Second)
	stopLoad()
	wg.Wait()

	// Zone C, whose backup zone is A, kept taking payments while A was
	// away (its guard marks had nowhere to go, and it writes unmarked).
	pays0, _, _ := h.summary()
	flowC := 0
	for _, p := range pays0 {
		if zoneOf(p.user) == "C" && p.send.After(killed.Add(2*leaseDuration)) && p.recv.Before(recStart) {
			flowC++
		}
	}
	t.Logf("payments for zone-C users (backed up by the lost zone A) acknowledged while A was failed over: %d", flowC)
	if flowC == 0 {
		t.Errorf("zone C took no payments while its backup zone was failed over")
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		z, err := admin.Zone(ctx, "C")
		if err == nil && !z.GuardGap {
			break
		}
		if time.Now().After(deadline) {
			dumpGoroutines(t, c)
			t.Fatalf("zone C's guard marks were not re-established in A")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Check the history against the final state.
	final, _ := c.Client(client.WithMaxRetries(40), client.WithBackoff(50*time.Millisecond, time.Second))
	pays, repays, isolated := h.summary()
	t.Logf("history: %d payments acknowledged, %d repayments acknowledged, %d repayments refused as account_isolated", len(pays), len(repays), isolated)
	if isolated == 0 && len(blacklist) > 0 {
		t.Logf("no repayment happened to hit a blacklisted account")
	}
	for _, r := range repays {
		if slices.Contains(blacklist, r.user) && r.recv.After(firstB) && r.recv.Before(recovered) && zoneOf(r.user) == "A" {
			t.Errorf("repayment %s of blacklisted account %d accepted during failover (sent +%s, acknowledged +%s; first store payment +%s, recovered +%s)",
				r.key, r.user, r.send.Sub(h.start).Round(time.Millisecond), r.recv.Sub(h.start).Round(time.Millisecond),
				firstB.Sub(h.start).Round(time.Millisecond), recovered.Sub(h.start).Round(time.Millisecond))
		}
	}
	byUser := map[uint64][]ack{}
	for _, p := range pays {
		byUser[p.user] = append(byUser[p.user], p)
	}
	missing := 0
	for _, u := range users {
		a, err := final.GetAccount(ctx, u)
		if err != nil {
			t.Fatalf("account %d: %v", u, err)
		}
		pl, err := final.ListPayments(ctx, u, client.ListOptions{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if pl.Next != "" {
			t.Fatalf("user %d has more than a page of payments", u)
		}
		have := map[string]int64{}
		var accepted int64
		for _, p := range pl.Payments {
			if _, dup := have[p.Key]; dup {
				t.Errorf("user %d: key %s listed twice", u, p.Key)
			}
			if p.Status != "declined" {
				have[p.Key] = p.Amount
				accepted += p.Amount
			}
		}
		for _, p := range byUser[u] {
			if amt, ok := have[p.key]; !ok || amt != p.amount {
				missing++
				if missing < 5 {
					t.Errorf("acknowledged payment %d/%s (%d) missing from the final state", u, p.key, p.amount)
				}
			}
		}
		if accepted != a.Accepted || a.Used+a.Pending != a.Accepted-a.Repaid || a.Used < 0 || a.Pending < 0 {
			t.Errorf("account %d breaks the money identity: %+v, payments add up to %d", u, a, accepted)
		}
	}
	if missing > 0 {
		t.Fatalf("%d acknowledged payments missing", missing)
	}
	if z, err := admin.Zone(ctx, "A"); err != nil || z.Phase != "normal" || z.Failover.Store != zs.Failover.Store {
		t.Errorf("zone A after reconciliation: %+v %v (want normal, no second failover)", z, err)
	}
	t.Logf("checked: %d acknowledged payments present once each, money identity on %d accounts, no repayment of a blacklisted account during failover", len(pays), len(users))
}

// ack is an acknowledged write of the history.
type ack struct {
	user       uint64
	key        string
	amount     int64
	send, recv time.Time
}

type failoverHistory struct {
	// opts secure the load's clients as the cluster is (TLS, token).
	opts     []client.Option
	start    time.Time
	mu       sync.Mutex
	pays     []ack
	repays   []ack
	isolated int
}

func newFailoverHistory(c *cluster.Cluster) *failoverHistory {
	return &failoverHistory{opts: c.Security().ClientOptions(), start: time.Now()}
}

func (h *failoverHistory) summary() ([]ack, []ack, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.pays), slices.Clone(h.repays), h.isolated
}

// payer pays for random users, retrying each key (same parameters) until
// it is decided or the load stops; an undecided key is left out of the
// acknowledged set.
func (h *failoverHistory) payer(ctx context.Context, addrs []string, users []uint64, seed int64, w int) {
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	cl, _ := client.New(addrs, append(slices.Clone(h.opts), client.WithMaxRetries(0), client.WithTimeout(2*time.Second))...)
	for i := 0; ctx.Err() == nil; i++ {
		u := users[rng.IntN(len(users))]
		key := fmt.Sprintf("p%d-%d", w, i)
		amount := int64(1 + rng.IntN(100))
		send := time.Now()
		for ctx.Err() == nil {
			p, err := cl.Pay(context.Background(), u, client.PayRequest{Key: key, Amount: amount, Merchant: "m"})
			if err == nil {
				if p.Status != "declined" {
					h.mu.Lock()
					h.pays = append(h.pays, ack{user: u, key: key, amount: amount, send: send, recv: time.Now()})
					h.mu.Unlock()
				}
				break
			}
			if !client.IsRetryable(err) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// repayer repays 1 on random users (each key once, retried while
// retryable), recording acknowledgements and account_isolated refusals.
func (h *failoverHistory) repayer(ctx context.Context, addrs []string, users []uint64, seed int64, w int) {
	rng := rand.New(rand.NewPCG(uint64(seed), 9))
	cl, _ := client.New(addrs, append(slices.Clone(h.opts), client.WithMaxRetries(0), client.WithTimeout(2*time.Second))...)
	for i := 0; ctx.Err() == nil; i++ {
		u := users[rng.IntN(len(users))]
		key := fmt.Sprintf("r%d-%d", w, i)
		send := time.Now()
		for ctx.Err() == nil {
			_, err := cl.Repay(context.Background(), u, client.RepayRequest{Key: key, Amount: 1})
			if err == nil {
				h.mu.Lock()
				h.repays = append(h.repays, ack{user: u, key: key, amount: 1, send: send, recv: time.Now()})
				h.mu.Unlock()
				break
			}
			if errors.Is(err, client.ErrAccountIsolated) {
				h.mu.Lock()
				h.isolated++
				h.mu.Unlock()
				break
			}
			if !client.IsRetryable(err) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFirstPayment returns when the first payment for one of users sent
// after t0 was acknowledged.
func waitFirstPayment(t *testing.T, ctx context.Context, h *failoverHistory, users []uint64, t0 time.Time) time.Time {
	t.Helper()
	var first time.Time
	waitCond(t, ctx, 30*time.Second, "a payment for a zone-A user after the kill", func() bool {
		pays, _, _ := h.summary()
		for _, p := range pays {
			if p.send.After(t0) && slices.Contains(users, p.user) && (first.IsZero() || p.recv.Before(first)) {
				first = p.recv
			}
		}
		return !first.IsZero()
	})
	return first
}

func waitCond(t *testing.T, ctx context.Context, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metaLeader returns the running node whose meta replica leads, or nil.
func metaLeader(ctx context.Context, c *cluster.Cluster) *cluster.Node {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		reps, err := n.Replicas(ctx)
		if err != nil {
			continue
		}
		for _, r := range reps {
			if r.Group == "meta" && r.State == "Leader" {
				return n
			}
		}
	}
	return nil
}

// dumpGoroutines writes every running node's goroutines to the test log
// folder (or the test's temp dir), for a failure that hangs.
func dumpGoroutines(t *testing.T, c *cluster.Cluster) {
	dir := os.Getenv(cluster.LogsEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	for _, n := range c.Nodes {
		req, _ := http.NewRequest(http.MethodGet, n.URL("/debug/pprof/goroutine?debug=2"), nil)
		resp, err := n.Do(req)
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		path := filepath.Join(dir, "goroutines-"+n.ID+".txt")
		if os.WriteFile(path, data, 0o644) == nil {
			t.Logf("goroutines of %s in %s", n.ID, path)
		}
		for _, p := range []string{"/v1/internal/replicas", "/v1/zones/A"} {
			req, _ := http.NewRequest(http.MethodGet, n.URL(p), nil)
			if resp, err := n.Do(req); err == nil {
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Logf("%s %s: %.600s", n.ID, p, data)
			}
		}
	}
}
