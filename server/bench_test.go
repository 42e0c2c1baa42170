package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/testlog"
)

// benchNode starts a one-node standalone zone for a benchmark and returns
// a client of it.
func benchNode(b *testing.B) (*client.Client, *Node) {
	b.Helper()
	var addrs []string
	for i := 0; i < 2; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	c := fastConfig("n1", filepath.Join(b.TempDir(), "n1"), addrs[0], addrs[1], testlog.New(b, slog.LevelWarn))
	c.Bootstrap = true
	c.PostInterval = DefaultConfig().PostInterval
	nd, err := Start(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nd.Shutdown(context.Background()) })
	cl, err := client.New([]string{c.HTTPAddr}, client.WithMaxRetries(30), client.WithBackoff(20*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !nd.IsLeader() {
		if time.Now().After(deadline) {
			b.Fatal("no leader in 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cl, nd
}

// BenchmarkPay measures single payments (one request each) through the
// Go client, HTTP and Raft, into a one-node zone's state machine, from
// 64 concurrent payers over 1,000 accounts: its CPU profile is the cost of
// a payment on the server and the client side together.
func BenchmarkPay(b *testing.B) {
	cl, nd := benchNode(b)
	ctx := context.Background()
	const accounts = 1000
	for u := uint64(0); u < accounts; u += 500 {
		as := make([]client.BatchAccount, 0, 500)
		for i := u; i < u+500; i++ {
			as = append(as, client.BatchAccount{User: 1<<40 + i, CreditLimit: client.MaxAmount})
		}
		if _, err := cl.PutAccounts(ctx, as); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Uint64
	b.SetParallelism(32) // 64 payers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			if _, err := cl.Pay(ctx, 1<<40+i%accounts, client.PayRequest{Key: fmt.Sprintf("bp-%d", i), Amount: 1, Merchant: "bench"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
	batches, entries := nd.FSM().ApplyStats()
	b.ReportMetric(float64(entries)/float64(max(batches, 1)), "entries/batch")
	b.ReportMetric(float64(b.N)/float64(max(entries, 1)), "payments/entry")
}
