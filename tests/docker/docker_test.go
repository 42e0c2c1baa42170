package docker

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/cluster/compose"
)

const (
	// budget bounds the whole test, image build included.
	budget = 8 * time.Minute
	// benchClients and benchAccounts shape the smoke load; the bench pays 1
	// minor unit per payment on accounts 1<<40 .. 1<<40+benchAccounts-1,
	// which fall into every shard.
	benchClients  = 8
	benchAccounts = 100
	benchBase     = uint64(1) << 40
)

// TestComposeCluster builds the image, starts docker-compose.yml's 3-zone
// cluster under a project of its own (a1's API on a free loopback port),
// waits until every zone has a leader and every node's health check
// (rzone healthcheck, GET /readyz) passes, runs "rzone bench pay" from inside
// the cluster's network, and checks that no payment failed, that every
// acknowledged payment is in its account, and that every zone has 3 voters
// and caught-up async followers on its backup zone's nodes. It always
// removes the containers, volumes, network and image, and prints the
// containers' logs when it fails.
func TestComposeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("docker: skipped under -short (builds an image and runs a 9-node cluster for about a minute)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	p := setupProject(ctx, t, "rzonetest")
	start := time.Now()
	phase := func(name string, f func()) {
		t.Helper()
		begin := time.Now()
		f()
		t.Logf("%-34s %7s (total %s)", name, time.Since(begin).Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	}

	phase("build binary and image", func() { buildImage(ctx, t, p) })
	var api string
	phase("compose up", func() {
		up(ctx, t, p)
		var err error
		if api, err = p.Port(ctx, "a1", 7070); err != nil {
			t.Fatal(err)
		}
		t.Logf("a1's API is published on %s", api)
	})
	// The cluster is secure: its certs service made the CA and the admin
	// token; this test's client speaks TLS with them, and an open request
	// is refused.
	sec, err := secure(ctx, t, p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New([]string{api}, append(sec.ClientOptions(), client.WithRouting(false), client.WithTimeout(5*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	refusesOpen(ctx, t, api)
	phase("cluster init, zones ready", func() {
		waitFor(ctx, t, 3*time.Minute, "3 zones with leaders, voters and async followers", func(ctx context.Context) error {
			zl, err := c.Zones(ctx)
			if err != nil {
				return err
			}
			return compose.CheckZones(zl)
		})
		waitFor(ctx, t, time.Minute, "the init service to exit 0", func(ctx context.Context) error {
			restarts, err := p.InitExited(ctx)
			if err == nil {
				t.Logf("init exited 0 after %d restarts", restarts)
			}
			return err
		})
	})

	phase("nodes healthy (rzone healthcheck: /readyz)", func() {
		waitFor(ctx, t, time.Minute, "every node's health check to pass", func(ctx context.Context) error {
			return p.Healthy(ctx, "a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3")
		})
	})

	var ops int
	phase("bench pay inside the network", func() { ops = bench(ctx, t, p) })
	phase("accounts hold every payment", func() { checkAccounts(ctx, t, c, ops) })
	phase("async followers caught up", func() {
		waitFor(ctx, t, time.Minute, "every replica to apply what its zone leader applied", func(ctx context.Context) error {
			zl, err := c.Zones(ctx)
			if err != nil {
				return err
			}
			if err := compose.CheckZones(zl); err != nil {
				return err
			}
			return compose.CaughtUp(zl)
		})
	})
}

// checkAccounts reads every bench account through a1's published API (a1
// forwards each read to the owning zone's leader) and checks that the
// accepted totals hold every acknowledged payment (ops), plus at most one
// unacknowledged payment per bench client cut off at the end of the run,
// and the money identity used + pending = accepted − repaid.
func checkAccounts(ctx context.Context, t *testing.T, c *client.Client, ops int) {
	t.Helper()
	var accepted int64
	for i := range uint64(benchAccounts) {
		a, err := c.GetAccount(ctx, benchBase+i)
		if err != nil {
			t.Fatalf("read bench account %d: %v", benchBase+i, err)
		}
		if a.Used+a.Pending != a.Accepted-a.Repaid {
			t.Errorf("account %d: used %d + pending %d != accepted %d - repaid %d", a.User, a.Used, a.Pending, a.Accepted, a.Repaid)
		}
		accepted += a.Accepted
	}
	if accepted < int64(ops) || accepted > int64(ops+benchClients) {
		t.Errorf("the bench accounts accepted %d payments of 1 unit; the bench acknowledged %d (want between %d and %d)",
			accepted, ops, ops, ops+benchClients)
	}
	t.Logf("bench accounts: %d accepted, %d acknowledged by the bench", accepted, ops)
}

// bench runs "rzone bench pay" in a container on the cluster's network,
// so that the client follows the route table's addresses (a1:7070 ...),
// and returns the acknowledged payments. It fails the test if any payment
// failed or none succeeded.
func bench(ctx context.Context, t *testing.T, p *compose.Project) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	name := p.Name + "-bench"
	t.Cleanup(func() {
		quiet(func(ctx context.Context) error { _, _, err := p.Run(ctx, "docker", "rm", "-f", name); return err })
	}) // if the test stops before the run ends
	args := append(append([]string{"run", "--rm", "--name", name}, p.InNetwork()...), p.Image,
		"bench", "pay", "--addr", "a1:7070,b1:7070,c1:7070", "--clients", strconv.Itoa(benchClients),
		"--time", "8s", "--accounts", strconv.Itoa(benchAccounts))
	out, stderr, err := p.Run(ctx, "docker", args...)
	t.Logf("bench pay:\n%s%s", stderr, out)
	if err != nil {
		t.Fatalf("bench pay: %v", err)
	}
	ops, failed, err := parseBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || ops == 0 {
		t.Fatalf("bench pay: %d ops, %d failed; want no failure and some ops", ops, failed)
	}
	return ops
}

// parseBench reads the payments made and failed from the result table of
// "rzone bench pay": a header line starting "clients" and ending "failed",
// with a "payments" column, and one row under it.
func parseBench(out string) (ops, failed int, err error) {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		h := strings.Fields(l)
		col := slices.Index(h, "payments")
		if len(h) < 3 || h[0] != "clients" || h[len(h)-1] != "failed" || col < 0 || i+1 >= len(lines) {
			continue
		}
		row := strings.Fields(lines[i+1])
		if len(row) != len(h) {
			break
		}
		if ops, err = strconv.Atoi(row[col]); err == nil {
			failed, err = strconv.Atoi(row[len(row)-1])
		}
		if err != nil {
			return 0, 0, fmt.Errorf("bench result row %q: %w", lines[i+1], err)
		}
		return ops, failed, nil
	}
	return 0, 0, fmt.Errorf("no result table in the bench output:\n%s", out)
}

// secure copies the CA, the nodes' certificate and the admin token out of
// the project's certs volume.
func secure(ctx context.Context, t *testing.T, p *compose.Project) (*cluster.Security, error) {
	t.Helper()
	dir := t.TempDir()
	if err := p.CopyCerts(ctx, dir); err != nil {
		return nil, err
	}
	return cluster.LoadSecurity(dir)
}

// refusesOpen checks that the published API speaks only TLS: a plaintext
// request gets no API reply, and an HTTPS request without a token is 401.
func refusesOpen(ctx context.Context, t *testing.T, api string) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	if resp, err := hc.Get("http://" + api + "/v1/zones"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to %s answered %s", api, resp.Status)
		}
	}
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := insecure.Get("https://" + api + "/v1/zones")
	if err != nil {
		t.Fatalf("HTTPS to %s: %v", api, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("HTTPS without a token to %s answered %s, want 401", api, resp.Status)
	}
}
