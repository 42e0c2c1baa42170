package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
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

// ring is the zones of docker-compose.yml in ring order: each backs up the
// next.
var ring = []string{"A", "B", "C"}

// TestComposeCluster builds the image, starts docker-compose.yml's 3-zone
// cluster under a project of its own (a1's API on a free loopback port),
// waits until every zone has a leader, runs "rzone bench pay" from inside
// the cluster's network, and checks that no payment failed, that every
// acknowledged payment is in its account, and that every zone has 3 voters
// and caught-up async followers on its backup zone's nodes. It always
// removes the containers, volumes, network and image, and prints the
// containers' logs when it fails.
func TestComposeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("docker: skipped under -short (builds an image and runs a 9-node cluster for about a minute)")
	}
	composeCmd := dockerUsable(t)
	root, err := cluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	id := randomID(t)
	e := &env{
		root:    root,
		compose: composeCmd,
		project: "rzonetest" + id,
		image:   "rzone:test-" + id,
	}
	e.pickIPPrefix(ctx, t)
	t.Logf("compose %q, project %s, image %s, network %s.0/24", strings.Join(composeCmd, " "), e.project, e.image, e.ipPrefix)
	start := time.Now()
	phase := func(name string, f func()) {
		t.Helper()
		begin := time.Now()
		f()
		t.Logf("%-34s %7s (total %s)", name, time.Since(begin).Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	}

	phase("build binary and image", func() { e.buildImage(ctx, t) })
	var api string
	phase("compose up (nodes healthy)", func() {
		e.up(ctx, t)
		api = e.publishedAPI(ctx, t)
	})
	c, err := client.New([]string{api}, client.WithRouting(false), client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	phase("cluster init, zones ready", func() {
		waitFor(ctx, t, 3*time.Minute, "3 zones with leaders, voters and async followers", func(ctx context.Context) error {
			zl, err := c.Zones(ctx)
			if err != nil {
				return err
			}
			return checkZones(zl)
		})
		e.waitInitExited(ctx, t)
	})

	var ops int
	phase("bench pay inside the network", func() { ops = e.bench(ctx, t) })
	phase("accounts hold every payment", func() { checkAccounts(ctx, t, c, ops) })
	phase("async followers caught up", func() {
		waitFor(ctx, t, time.Minute, "every replica to apply what its zone leader applied", func(ctx context.Context) error {
			zl, err := c.Zones(ctx)
			if err != nil {
				return err
			}
			if err := checkZones(zl); err != nil {
				return err
			}
			return caughtUp(zl)
		})
	})
}

// checkZones reports the first way zl differs from a healthy 3 × 3
// cluster: zones A, B and C in ring order, each ready with a leader, a
// valid lease, 3 voters of its own zone, and at least one async follower,
// all on its backup zone's nodes; 100 shards spread over the zones.
func checkZones(zl *client.ZoneList) error {
	if len(zl.Zones) != len(ring) {
		return fmt.Errorf("%d zones, want %d", len(zl.Zones), len(ring))
	}
	shards := map[int]string{}
	for i, want := range ring {
		z := zl.Zones[i]
		backup := ring[(i+1)%len(ring)]
		switch {
		case z.Zone != want:
			return fmt.Errorf("zone %d is %q, want %q", i, z.Zone, want)
		case z.Backup != backup:
			return fmt.Errorf("zone %s: backup %q, want %q", z.Zone, z.Backup, backup)
		case z.Leader == "":
			return fmt.Errorf("zone %s has no leader", z.Zone)
		case !z.Ready:
			return fmt.Errorf("zone %s is not ready", z.Zone)
		case !z.LeaseValid:
			return fmt.Errorf("zone %s has no valid lease (until %q)", z.Zone, z.LeaseUntil)
		case len(z.Voters) != 3:
			return fmt.Errorf("zone %s has %d voters, want 3", z.Zone, len(z.Voters))
		case len(z.Followers) == 0:
			return fmt.Errorf("zone %s has no async follower", z.Zone)
		}
		leaders := 0
		for _, r := range z.Voters {
			if !r.Voter || !inZone(r.Node, z.Zone) {
				return fmt.Errorf("zone %s: voter %s (voter=%v) is not a voter of this zone", z.Zone, r.Node, r.Voter)
			}
			if r.State == "Leader" {
				leaders++
			}
		}
		if leaders != 1 {
			return fmt.Errorf("zone %s: %d voters say they lead", z.Zone, leaders)
		}
		for _, r := range z.Followers {
			if r.Voter || !inZone(r.Node, backup) || r.State != "Follower" {
				return fmt.Errorf("zone %s: async follower %s (voter=%v, state %s), want a non-voter on zone %s's nodes",
					z.Zone, r.Node, r.Voter, r.State, backup)
			}
		}
		for _, s := range z.Shards {
			if other, dup := shards[s]; dup {
				return fmt.Errorf("shard %d is in zones %s and %s", s, other, z.Zone)
			}
			shards[s] = z.Zone
		}
	}
	if len(shards) != 100 {
		return fmt.Errorf("the zones hold %d shards, want 100", len(shards))
	}
	return nil
}

// caughtUp reports a replica, voter or async follower, whose state machine
// has not applied what its zone leader's has. It compares applied indexes
// rather than the reported lag_entries, which counts from the leader's last
// log index and so includes entries that never reach a state machine
// (configuration changes, no-ops, barriers).
func caughtUp(zl *client.ZoneList) error {
	for _, z := range zl.Zones {
		var leader uint64
		for _, r := range z.Voters {
			if r.Node == z.Leader {
				leader = r.AppliedIndex
			}
		}
		for _, r := range append(slices.Clone(z.Voters), z.Followers...) {
			if r.AppliedIndex != leader {
				return fmt.Errorf("zone %s: %s applied %d, its leader %s %d (reported lag %d entries, last contact %dms)",
					z.Zone, r.Node, r.AppliedIndex, z.Leader, leader, r.LagEntries, r.LastContactMs)
			}
		}
	}
	return nil
}

// inZone reports whether node is one of zone's nodes in
// docker-compose.yml (a1..a3 are zone A, and so on).
func inZone(node, zone string) bool {
	return len(node) == 2 && strings.EqualFold(node[:1], zone) && strings.Contains("123", node[1:])
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
func (e *env) bench(ctx context.Context, t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	name := e.project + "-bench"
	t.Cleanup(func() { e.quiet("docker", "rm", "-f", name) }) // if the test stops before the run ends
	out, stderr, err := e.run(ctx, "docker", "run", "--rm", "--name", name, "--network", e.network(), e.image,
		"bench", "pay", "--addr", "a1:7070,b1:7070,c1:7070", "--clients", strconv.Itoa(benchClients),
		"--time", "8s", "--accounts", strconv.Itoa(benchAccounts))
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

// waitFor polls cond every second until it returns nil, and fails the test
// with cond's last error after d or when ctx ends.
func waitFor(ctx context.Context, t *testing.T, d time.Duration, what string, cond func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		err := cond(cctx)
		ccancel()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last: %v)", what, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

func randomID(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// copyFile copies the repository file name into dir.
func copyFile(root, dir, name string) error {
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), b, 0o644)
}
