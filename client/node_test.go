package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/testlog"
	"github.com/rzonedb/rzone/server"
)

// startNode starts a one-node standalone zone in this process (open, on
// loopback) and returns its API address.
func startNode(t *testing.T) string {
	t.Helper()
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	cfg := server.DefaultConfig()
	cfg.NodeID, cfg.DataDir = "n1", filepath.Join(t.TempDir(), "n1")
	cfg.RaftAddr, cfg.HTTPAddr = free(), free()
	cfg.Bootstrap, cfg.Insecure = true, true
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
	cfg.PostInterval = 50 * time.Millisecond
	cfg.Logger = testlog.New(t, slog.LevelWarn)
	n, err := server.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return n.HTTPAddr()
}

// TestClientAgainstANode runs the client's calls against a real node in
// this process: an account, a payment and its replay with the same key, a
// key reused with another amount, a decline with its code, a batch with
// one result per item, the bill the payments are posted into, and a
// repayment of it.
func TestClientAgainstANode(t *testing.T) {
	addr := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.New([]string{addr}, client.WithRouting(false), client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(40))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutAccount(ctx, 42, 100_00); err != nil {
		t.Fatalf("put account: %v", err)
	}
	if m, err := c.Metrics(ctx, addr); err != nil || !strings.Contains(m, "\nprocess_resident_memory_bytes ") || !strings.Contains(m, "rzone_") {
		t.Fatalf("metrics: %v, %.300q", err, m)
	}
	if _, err := c.Metrics(ctx, "127.0.0.1:1"); err == nil {
		t.Fatal("metrics of an address nothing listens on: no error")
	}
	p, replayed, err := c.PayReplayed(ctx, 42, client.PayRequest{Key: "order-1", Amount: 19_99, Merchant: "books"})
	if err != nil || replayed || p.Status != client.PaymentAccepted || p.Amount != 19_99 {
		t.Fatalf("pay: %+v replayed=%v %v", p, replayed, err)
	}
	again, replayed, err := c.PayReplayed(ctx, 42, client.PayRequest{Key: "order-1", Amount: 19_99, Merchant: "books"})
	if err != nil || !replayed || again.Index != p.Index {
		t.Fatalf("the same key again: %+v replayed=%v %v, want the original payment", again, replayed, err)
	}
	if _, err := c.Pay(ctx, 42, client.PayRequest{Key: "order-1", Amount: 5_00, Merchant: "books"}); !errors.Is(err, client.ErrIdempotencyConflict) {
		t.Fatalf("the key with another amount: %v, want an idempotency conflict", err)
	}
	_, err = c.Pay(ctx, 42, client.PayRequest{Key: "order-2", Amount: 1_000_00, Merchant: "cars"})
	var ce *client.Error
	if !errors.Is(err, client.ErrInsufficientCredit) || !errors.As(err, &ce) || ce.Code != client.CodeInsufficientCredit {
		t.Fatalf("over the limit: %v, want insufficient_credit", err)
	}
	res, err := c.PayBatch(ctx, []client.BatchPayment{
		{User: 42, Key: "b-1", Amount: 1_00, Merchant: "m"},
		{User: 42, Key: "order-1", Amount: 19_99, Merchant: "books"}, // a replay
		{User: 7, Key: "b-2", Amount: 1_00, Merchant: "m"},           // no account
	})
	if err != nil || len(res) != 3 || res[0].Status != 201 || res[1].Status != 200 || res[2].Error == nil {
		t.Fatalf("batch: %+v %v", res, err)
	}
	var bill *client.Bill
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, err := c.GetAccount(ctx, 42)
		if err == nil && a.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("payments never posted: %+v %v", a, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	bill, err = c.GetBill(ctx, 42, p.Cycle)
	if err != nil || bill.Principal != 20_99 || bill.Outstanding != 20_99 {
		t.Fatalf("bill %s: %+v %v, want principal 20.99", p.Cycle, bill, err)
	}
	r, err := c.Repay(ctx, 42, client.RepayRequest{Key: "repay-1", Amount: 20_99})
	if err != nil || r.Amount != 20_99 {
		t.Fatalf("repay: %+v %v", r, err)
	}
	if bill, err = c.GetBill(ctx, 42, p.Cycle); err != nil || bill.Outstanding != 0 || bill.Status != client.BillPaid {
		t.Fatalf("bill after the repayment: %+v %v", bill, err)
	}
}

// countingTransport counts the requests sent by path.
type countingTransport struct {
	mu    sync.Mutex
	paths map[string]int
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	p := r.URL.Path
	if strings.HasSuffix(p, "/payments") {
		p = "single"
	}
	t.paths[p]++
	t.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestCoalescedPaymentsAgainstANode runs concurrent payments through a
// coalescing client against a real node: fewer requests than payments,
// and each call's answer and the accounts' money exactly as if each had
// gone alone: every new key accepted once, every key sent again replayed
// with the original payment, a payment over the limit declined, and each
// account's used and pending the sum of its accepted payments.
func TestCoalescedPaymentsAgainstANode(t *testing.T) {
	addr := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ct := &countingTransport{paths: map[string]int{}}
	c, err := client.New([]string{addr}, client.WithRouting(false), client.WithCoalescing(2),
		client.WithHTTPClient(&http.Client{Transport: ct}), client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(40))
	if err != nil {
		t.Fatal(err)
	}
	const users, callers, each = 4, 32, 20
	for u := uint64(1); u <= users; u++ {
		if _, err := c.PutAccount(ctx, u, 1_000_000); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct {
		p        *client.Payment
		replayed bool
	}
	var mu sync.Mutex
	first := map[string]answer{}
	var declined atomic.Int32
	var wg sync.WaitGroup
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				j := i
				if i%5 == 4 {
					j = i - 1 // the previous payment again: a replay
				}
				u := uint64(1 + (w+j)%users)
				key := fmt.Sprintf("w%d-%d", w, j)
				amount := int64(100 + w)
				if i == 7 {
					p, err := c.Pay(ctx, u, client.PayRequest{Key: key + "-big", Amount: 2_000_000, Merchant: "m"})
					if !errors.Is(err, client.ErrInsufficientCredit) {
						t.Errorf("over the limit: %+v %v, want insufficient credit", p, err)
					}
					declined.Add(1)
					continue
				}
				p, replayed, err := c.PayReplayed(ctx, u, client.PayRequest{Key: key, Amount: amount, Merchant: "m"})
				if err != nil {
					t.Errorf("pay %s: %v", key, err)
					return
				}
				if p.Key != key || p.User != u || p.Amount != amount {
					t.Errorf("pay %s for %d: got %+v", key, u, p)
				}
				mu.Lock()
				if a, ok := first[key]; ok {
					if !replayed || p.Index != a.p.Index {
						t.Errorf("%s again: replayed=%v index %d, want the original (index %d)", key, replayed, p.Index, a.p.Index)
					}
				} else {
					if replayed {
						t.Errorf("%s the first time: replayed", key)
					}
					first[key] = answer{p, replayed}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sum := map[uint64]int64{}
	for _, a := range first {
		sum[a.p.User] += a.p.Amount
	}
	for u := uint64(1); u <= users; u++ {
		a, err := c.GetAccount(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if a.Used+a.Pending != sum[u] {
			t.Errorf("account %d: used %d + pending %d, want the accepted payments' %d", u, a.Used, a.Pending, sum[u])
		}
	}
	ct.mu.Lock()
	singles, batches := ct.paths["single"], ct.paths["/v1/payments/batch"]
	ct.mu.Unlock()
	payments := callers * each
	t.Logf("%d payments (%d declined) in %d single requests and %d coalesced ones", payments, declined.Load(), singles, batches)
	if batches == 0 || singles+batches >= payments {
		t.Fatalf("%d payments went in %d single requests and %d coalesced: none shared", payments, singles, batches)
	}
}
