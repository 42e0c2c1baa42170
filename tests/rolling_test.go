package tests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
)

// electionTimeout matches Raft's log line of a voter that heard nothing
// from its leader for an election timeout and starts an election; its
// last-leader-id is empty on a node that has not heard of a leader since it
// started.
var electionTimeout = regexp.MustCompile(`heartbeat timeout reached, starting election.*last-leader-id=(\S*)`)

// TestRollingRestartWithoutElections restarts every node of a 3-zone ×
// 3-node cluster, one after another with SIGTERM, under payment load. Each
// stopping node hands off the leaderships it holds, so: no payment fails
// after the client's retries, and no node reaches its election timeout
// while it knows a leader (a restarted node that has not heard from its
// leader yet is no lost leader).
func TestRollingRestartWithoutElections(t *testing.T) {
	c := startZones(t)
	seed := testSeed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admin, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := admin.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var users []uint64
	for _, zu := range shardUsers(cluster.APIRoutes(rt), 800_000, 1) {
		users = append(users, zu[:3]...) // three users of each zone
	}
	for _, u := range users {
		if _, err := admin.PutAccount(ctx, u, 1_000_000_000); err != nil {
			t.Fatalf("create account %d: %v", u, err)
		}
	}
	offsets := map[string]int64{}
	for _, n := range c.Nodes {
		offsets[n.ID] = logSize(t, n)
	}

	// Payment load: each payment retried by the client (same key) until
	// it is acknowledged or the client gives up.
	const payers = 3
	var acked, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < payers; p++ {
		cl, err := c.Client(client.WithTimeout(3*time.Second), client.WithMaxRetries(60), client.WithBackoff(25*time.Millisecond, 500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(p)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := users[rng.IntN(len(users))]
				pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := cl.Pay(pctx, u, client.PayRequest{Key: fmt.Sprintf("roll-%d-%d", p, i), Amount: 1 + rng.Int64N(1000), Merchant: "rolling"})
				pcancel()
				if err != nil {
					failed.Add(1)
					failMu.Lock()
					failures = append(failures, fmt.Sprintf("%s: user %d: %v", time.Now().Format("15:04:05.000"), u, err))
					failMu.Unlock()
					continue
				}
				acked.Add(1)
			}
		}()
	}

	began := time.Now()
	for _, n := range c.Nodes {
		before := acked.Load()
		t0 := time.Now()
		if err := n.StopGracefully(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		stopped := time.Since(t0)
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitHealthy(ctx); err != nil {
			t.Fatalf("after restarting %s: %v", n.ID, err)
		}
		t.Logf("restarted %s: stopped in %s, every zone whole again after %s; %d payments meanwhile",
			n.ID, stopped.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), acked.Load()-before)
	}
	close(stop)
	wg.Wait()
	t.Logf("rolling restart of %d nodes in %s: %d payments acknowledged, %d failed", len(c.Nodes), time.Since(began).Round(time.Millisecond), acked.Load(), failed.Load())
	for _, f := range failures {
		t.Errorf("payment failed after the client's retries: %s", f)
	}
	if acked.Load() == 0 {
		t.Error("no payment was acknowledged")
	}

	for _, n := range c.Nodes {
		for _, line := range logLinesFrom(t, n, offsets[n.ID]) {
			m := electionTimeout.FindStringSubmatch(line)
			if m != nil && m[1] != `""` && m[1] != "" {
				t.Errorf("%s reached its election timeout with a known leader: %s", n.ID, line)
			}
		}
	}
}

// logSize is the size of node n's stderr log now.
func logSize(t *testing.T, n *cluster.Node) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(n.LogDir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// logLinesFrom returns node n's stderr log lines from byte offset on.
func logLinesFrom(t *testing.T, n *cluster.Node, offset int64) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(n.LogDir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
