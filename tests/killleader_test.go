package tests

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// testSeed returns $RZONE_TEST_SEED or a seed from the clock, and logs it
// so that a failing run can be replayed.
func testSeed(t *testing.T) int64 {
	t.Helper()
	seed := time.Now().UnixNano() % 1_000_000_000
	if s := os.Getenv("RZONE_TEST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("RZONE_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with RZONE_TEST_SEED=%d)", seed, seed)
	return seed
}

// TestKillLeaderLosesNoPayment starts a 3-process zone, runs concurrent
// payers that retry every retryable error with the same key through the Go
// client, kill -9s the leader mid-load and restarts it, then checks on every
// node's own replica that every acknowledged payment exists exactly once,
// with the index it was acknowledged at, and that money adds up
// (used + pending == accepted − repaid, accepted == the sum of the listed
// payments).
//
// The coalescing variant pays through two clients shared by twice as many
// payers, letting their payments share requests (client.WithCoalescing):
// one routed to the leader, one that knows only the other nodes, which
// forward its requests. It gives up a key at a "not applied" answer when no
// earlier attempt of it was unknown, rather than sending it again: every
// such key must be missing from every replica at the end (a call told its
// payment was not applied must not have been charged), at least one key
// must have been given up so, and every other answer is checked as above.
func TestKillLeaderLosesNoPayment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	t.Run("alone", func(t *testing.T) { killLeaderUnderLoad(t, false) })
	t.Run("coalescing", func(t *testing.T) { killLeaderUnderLoad(t, true) })
}

func killLeaderUnderLoad(t *testing.T, coalesce bool) {
	seed := testSeed(t)
	c := cluster.Require(t, cluster.Config{RequestTimeout: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const (
		accounts = 4
		payers   = 6
		load     = 12 * time.Second
		killAt   = 3 * time.Second
		downFor  = 3 * time.Second
		userBase = 500_000
	)
	admin, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(10))
	if err != nil {
		t.Fatal(err)
	}
	rec := history.NewRecorder(nil)
	users := recordedAccounts(ctx, t, admin, rec, userBase, accounts)

	stop := time.Now().Add(load)
	var acked, afterKill atomic.Int64
	var killedAt atomic.Int64 // history time of the kill, 0 before
	var wg sync.WaitGroup
	n := payers
	var shared, pinned *client.Client
	if coalesce {
		// Half the payers share a client that routes to the leader, half
		// one that knows only the other nodes, which forward its shared
		// requests to the leader (a zone's share forwarded, and the single
		// request's relay): the kill cuts both kinds in flight.
		n = 2 * payers
		opts := []client.Option{client.WithTimeout(3 * time.Second), client.WithMaxRetries(0), client.WithCoalescing(1)}
		if shared, err = c.Client(opts...); err != nil {
			t.Fatal(err)
		}
		first, err := c.WaitLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var others []string
		for _, nd := range c.Nodes {
			if nd != first {
				others = append(others, nd.HTTPAddr)
			}
		}
		if pinned, err = client.New(others, append(c.Security().ClientOptions(), append(opts, client.WithRouting(false))...)...); err != nil {
			t.Fatal(err)
		}
	}
	var notAppliedMu sync.Mutex
	notApplied := map[string]bool{} // keys given up at "not applied"
	for p := 0; p < n; p++ {
		cl := shared
		if p%2 == 1 && pinned != nil {
			cl = pinned
		}
		if cl == nil {
			if cl, err = c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(0)); err != nil {
				t.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(p)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop) && i < 100_000; i++ {
				u := users[rng.IntN(len(users))]
				req := client.PayRequest{Key: fmt.Sprintf("kl-%d-%d", p, i), Amount: 1 + rng.Int64N(1000), Merchant: "kill-test"}
				ok, gaveUp := payWithRetries(ctx, cl, rec, p, u, req, coalesce)
				if gaveUp {
					notAppliedMu.Lock()
					notApplied[req.Key] = true
					notAppliedMu.Unlock()
				}
				if ok {
					acked.Add(1)
					if k := killedAt.Load(); k != 0 && rec.Now() > k {
						afterKill.Add(1)
					}
				}
			}
		}()
	}

	time.Sleep(killAt)
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 leader %s with %d payments acknowledged", leader.ID, acked.Load())
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt.Store(rec.Now())
	time.Sleep(downFor)
	if err := leader.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted %s", leader.ID)
	wg.Wait()
	t.Logf("%d payments acknowledged, %d after the kill", acked.Load(), afterKill.Load())
	if afterKill.Load() == 0 {
		t.Error("no payment was acknowledged after the leader was killed")
	}

	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	applied, err := c.WaitQuiescent(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("every node applied index %d", applied)
	for _, n := range c.Nodes {
		readFinal(ctx, t, admin, rec, n, users)
	}

	checkPaymentsAndMoney(t, rec)
	if coalesce {
		notAppliedMu.Lock()
		defer notAppliedMu.Unlock()
		found := 0
		for _, op := range rec.Ops() {
			if op.F != history.FFinalRead {
				continue
			}
			for _, p := range op.Payments {
				if notApplied[p.Key] {
					found++
					t.Errorf("key %s was answered not applied and given up, and node %s holds it (%s, %d, index %d); its attempts: %s", p.Key, op.Node, p.Status, p.Amount, p.LogIndex, attemptsOf(rec, p.Key))
				}
			}
		}
		t.Logf("checked: %d keys answered not applied and given up, none on any of %d replicas", len(notApplied)-found, len(c.Nodes))
		if len(notApplied) == 0 {
			t.Error("no key was answered not applied with no earlier unknown answer: the check above checked nothing")
		}
	}
}

// recordedAccounts creates n accounts from base with a large credit line
// and records each in rec; it returns their users.
func recordedAccounts(ctx context.Context, t *testing.T, admin *client.Client, rec *history.Recorder, base uint64, n int) []uint64 {
	t.Helper()
	var users []uint64
	for i := 0; i < n; i++ {
		u := base + uint64(i)
		if _, err := admin.PutAccount(ctx, u, 1_000_000_000); err != nil {
			t.Fatalf("create account %d: %v", u, err)
		}
		rec.Add(history.Op{Type: history.OK, Process: -2, F: history.FPut, User: u, Amount: 1_000_000_000})
		users = append(users, u)
	}
	return users
}

// checkPaymentsAndMoney runs the set and bank checkers over rec's history
// and fails t with their examples unless both find it valid.
func checkPaymentsAndMoney(t *testing.T, rec *history.Recorder) {
	t.Helper()
	ops := rec.Ops()
	for _, ch := range []checker.Checker{checker.Set{}, checker.Bank{}} {
		r := ch.Check(ops)
		t.Logf("checked: %s: %s, %v", r.Checker, r.Verdict, r.Stats)
		if r.Verdict != checker.Valid {
			for _, e := range r.Examples {
				t.Errorf("%s: %s", r.Checker, e)
			}
			t.Errorf("%s checker: %s %v %v", r.Checker, r.Verdict, r.Anomalies, r.Notes)
		}
	}
}

// payWithRetries pays through cl, sending the same request again on every
// retryable error, for at most 20 attempts and 20 seconds, recording each
// attempt. It reports whether the payment was acknowledged; with
// giveUpNotApplied it stops at a "not applied" (unavailable) answer when
// no earlier attempt's outcome was unknown, and reports that it gave up
// the key there.
func payWithRetries(ctx context.Context, cl *client.Client, rec *history.Recorder, p int, user uint64, req client.PayRequest, giveUpNotApplied bool) (acked, gaveUp bool) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	backoff := 50 * time.Millisecond
	unknown := false // an earlier attempt's outcome is unknown
	for attempt := 1; attempt <= 20; attempt++ {
		inv := rec.Add(history.Op{Type: history.Invoke, Process: p, F: history.FPay, User: user, Key: req.Key, Amount: req.Amount, Attempt: attempt})
		pay, replayed, err := cl.PayReplayed(ctx, user, req)
		done := inv
		switch {
		case err == nil:
			done.Type, done.Status, done.LogIndex, done.Created = history.OK, pay.Status, pay.Index, !replayed
		case errors.Is(err, client.ErrInsufficientCredit):
			done.Type, done.Status = history.OK, "declined"
		case errors.Is(err, client.ErrUnavailable):
			done.Type, done.Error = history.Fail, err.Error()
		default:
			done.Type, done.Error = history.Info, err.Error()
		}
		rec.Add(done)
		if done.Type == history.OK {
			return true, false
		}
		if done.Type == history.Info {
			unknown = true
		}
		if giveUpNotApplied && done.Type == history.Fail && !unknown {
			// Only when no earlier attempt may have been applied: "not
			// applied" speaks of its own attempt, and an earlier call
			// with the key may have been charged.
			return false, true
		}
		if !client.IsRetryable(err) || ctx.Err() != nil {
			return false, false
		}
		select {
		case <-ctx.Done():
			return false, false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	return false, false
}

// readFinal records, for every user, node n's own view: the account and
// every payment, read from its replica with stale reads. The reads are
// retried (a few times) until the node's applied index is the same before
// and after them, so the entries describe one state.
func readFinal(ctx context.Context, t *testing.T, cl *client.Client, rec *history.Recorder, n *cluster.Node, users []uint64) {
	t.Helper()
	var err error
	for try := 0; try < 5; try++ {
		var ops []history.Op
		if ops, err = readNode(ctx, cl, n, users); err == nil {
			for _, op := range ops {
				rec.Add(op)
			}
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("final reads on %s: %v", n.ID, err)
}

func readNode(ctx context.Context, cl *client.Client, n *cluster.Node, users []uint64) ([]history.Op, error) {
	before, err := n.Status(ctx)
	if err != nil {
		return nil, err
	}
	at := []client.ReadOption{client.At(n.HTTPAddr), client.Stale()}
	var ops []history.Op
	for _, u := range users {
		a, err := cl.GetAccount(ctx, u, at...)
		if err != nil {
			return nil, fmt.Errorf("account %d: %w", u, err)
		}
		ps, err := cl.AllPayments(ctx, u, at...)
		if err != nil {
			return nil, fmt.Errorf("payments of %d: %w", u, err)
		}
		op := history.Op{Type: history.OK, Process: -3, F: history.FFinalRead, Node: n.ID, User: u, Stale: true,
			Applied: before.AppliedIndex, Payments: []history.Payment{},
			Account: &history.Account{CreditLimit: a.CreditLimit, Used: a.Used, Pending: a.Pending, Accepted: a.Accepted, Repaid: a.Repaid}}
		for _, p := range ps {
			op.Payments = append(op.Payments, history.Payment{Key: p.Key, Amount: p.Amount, Status: p.Status, LogIndex: p.Index})
		}
		ops = append(ops, op)
	}
	after, err := n.Status(ctx)
	if err != nil {
		return nil, err
	}
	if after.AppliedIndex != before.AppliedIndex {
		return nil, fmt.Errorf("applied index moved from %d to %d during the reads", before.AppliedIndex, after.AppliedIndex)
	}
	return ops, nil
}

// attemptsOf describes the recorded attempts of key.
func attemptsOf(rec *history.Recorder, key string) string {
	var out []string
	for _, op := range rec.Ops() {
		if op.Key == key && op.F == history.FPay {
			out = append(out, fmt.Sprintf("[%s at %d: %s %s]", op.Type, op.Time, op.Status, op.Error))
		}
	}
	return strings.Join(out, " ")
}
