package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
)

// scrape returns node i's /metrics as lines.
func (mc *multiCluster) scrape(t *testing.T, i int) []string {
	t.Helper()
	resp, err := mc.hc.Get(mc.url(i, "/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s %s", resp.Status, body)
	}
	return strings.Split(string(body), "\n")
}

// sample is the value of the series name with every label of want, and
// whether there is one.
func sample(lines []string, name string, want ...string) (float64, bool) {
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(","+labels+",", ","+w+",")
		}
		if all {
			v, err := strconv.ParseFloat(value, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestRaftMetricsForEveryGroup: a cluster node's /metrics has the Raft
// series of every group it hosts (its zone, the meta group, the async
// follower of the zone it backs up) with group and role labels and no
// stand-in values; the log and state file commit histograms, snapshot
// counts and hashicorp/raft's and memberlist's own go-metrics are there.
func TestRaftMetricsForEveryGroup(t *testing.T) {
	mc := setupZonesWith(t, []string{"A", "B"}, 1, func(c *Config) {
		c.SnapshotThreshold = 8
		c.SnapshotInterval = 100 * time.Millisecond
		c.TrailingLogs = 4
	})
	ctx := context.Background()
	cl, err := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(40))
	if err != nil {
		t.Fatal(err)
	}
	for u := uint64(0); u < 40; u++ {
		if _, err := cl.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatalf("put account %d: %v", u, err)
		}
	}
	var lines []string
	waitFor(t, 15*time.Second, "a snapshot of zone/A and the async follower of zone/B on a1", func() bool {
		lines = mc.scrape(t, 0)
		snaps, _ := sample(lines, "rzone_raft_snapshots_total", `group="zone/A"`, `outcome="ok"`)
		_, follows := sample(lines, "rzone_raft_last_contact_seconds", `group="zone/B"`, `role="async_follower"`)
		return snaps >= 1 && follows
	})
	for _, s := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"rzone_raft_state", []string{`group="zone/A"`, `role="zone"`, `state="leader"`}, 1},
		{"rzone_raft_is_leader", []string{`group="zone/A"`, `role="zone"`}, 1},
		{"rzone_raft_has_leader", []string{`group="meta"`, `role="meta"`}, 1},
		{"rzone_raft_has_leader", []string{`group="zone/B"`, `role="async_follower"`}, 1},
		{"rzone_raft_term", []string{`group="zone/B"`, `role="async_follower"`}, 1},
		{"rzone_raft_commit_index", []string{`group="meta"`, `role="meta"`}, 1},
		{"rzone_fsm_applied_index", []string{`group="zone/A"`, `role="zone"`}, 1},
		{"rzone_raft_leader_changes_total", []string{`group="zone/A"`, `role="zone"`}, 1},
		{"rzone_lease_remaining_seconds", []string{`group="zone/A"`, `role="zone"`}, 0},
		{"rzone_raft_log_store_duration_seconds_count", []string{`group="zone/A"`}, 1},
		{"rzone_raft_log_store_duration_seconds_count", []string{`group="meta"`}, 1},
		{"rzone_fsm_commit_duration_seconds_count", []string{`group="zone/A"`}, 1},
		{"rzone_fsm_commit_spill_seconds_count", []string{`group="zone/A"`}, 1},
		{"rzone_fsm_commit_write_seconds_count", []string{`group="zone/A"`}, 1},
		{"rzone_fsm_commit_pages_sum", []string{`group="zone/A"`}, 1},
		{"rzone_raft_snapshot_duration_seconds_count", []string{`group="zone/A"`}, 1},
		{"rzone_raft_snapshot_size_bytes", []string{`group="zone/A"`}, 1},
	} {
		v, ok := sample(lines, s.name, s.labels...)
		if !ok || v < s.min {
			t.Errorf("%s{%s} = %v (present %v), want >= %v", s.name, strings.Join(s.labels, ","), v, ok, s.min)
		}
	}
	// The leader has no last contact, and no series is a stand-in -1.
	if _, ok := sample(lines, "rzone_raft_last_contact_seconds", `group="zone/A"`, `role="zone"`); ok {
		t.Error("the zone's leader reports a last contact")
	}
	lib := map[string]bool{}
	for _, l := range lines {
		if strings.HasPrefix(l, "rzone_") && strings.HasSuffix(l, " -1") {
			t.Errorf("stand-in value: %s", l)
		}
		for _, p := range []string{"raft_", "memberlist_"} {
			if strings.HasPrefix(l, p) {
				lib[p] = true
			}
		}
	}
	if !lib["raft_"] || !lib["memberlist_"] {
		t.Errorf("hashicorp/raft's or memberlist's go-metrics missing from /metrics (seen %v)", lib)
	}

	// Failed over, zone A's failover store (hosted by b1, in A's backup
	// zone) has its series too, with the failover_store role.
	if _, err := cl.FailoverZone(ctx, "A", 30*time.Second, client.Forced()); err != nil {
		t.Fatalf("failover of zone A: %v", err)
	}
	waitFor(t, 15*time.Second, "b1's failover store of zone A in its /metrics", func() bool {
		lines := mc.scrape(t, 1)
		v, ok := sample(lines, "rzone_raft_has_leader", `role="failover_store"`)
		_, applied := sample(lines, "rzone_fsm_applied_index", `role="failover_store"`)
		return ok && v == 1 && applied
	})
}
