package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/nemesis"
	"github.com/rzonedb/rzone/tests/jepsen/report"
)

// runDir returns a report folder that is removed when t passes and kept
// (and logged) when it fails.
func runDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rzone-jepsen-"+strings.ReplaceAll(t.Name(), "/", "-")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("report kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// binaryFor builds rzone, with the faultinject tag when inject names a
// planted bug.
func binaryFor(t *testing.T, inject string) string {
	if inject == "" {
		return cluster.Binary(t)
	}
	return cluster.Binary(t, "faultinject")
}

// runScenario carries out cfg within d and logs its summary; it skips the
// test when the binary has no --inject flag and fails it when the run could
// not be carried out. It returns the report and the summary.
func runScenario(t *testing.T, cfg *Config, d time.Duration) (*report.Run, string) {
	t.Helper()
	var out bytes.Buffer
	cfg.Stdout = &out
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	rep, err := Run(ctx, *cfg)
	if errors.Is(err, ErrInjectUnsupported) {
		t.Skipf("rzone server has no --inject flag: %v", err)
	}
	t.Logf("summary:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	return rep, out.String()
}

// whyNot says, for each checker whose verdict is not valid, its first
// anomalies and what it could not check: on one line, so that a failing
// test's last line says why.
func whyNot(rep *report.Run) string {
	var parts []string
	for _, r := range rep.Results {
		if r.Verdict == checker.Valid {
			continue
		}
		var why []string
		for _, e := range r.Examples[:min(len(r.Examples), 3)] {
			why = append(why, e.String())
		}
		why = append(why, r.Unchecked[:min(len(r.Unchecked), 3)]...)
		parts = append(parts, fmt.Sprintf("%s %s (%s)", r.Checker, r.Verdict, strings.Join(why, "; ")))
	}
	switch {
	case len(rep.Results) == 0:
		return "no checker ran"
	case len(parts) == 0:
		return "every checker valid"
	}
	return strings.Join(parts, "; ")
}

// resultOf returns the result of the named checker, nil if it did not run.
func resultOf(rep *report.Run, name string) *checker.Result {
	for _, r := range rep.Results {
		if r.Checker == name {
			return r
		}
	}
	return nil
}

func run(t *testing.T, cfg Config) (*Config, string) {
	t.Helper()
	cfg.Out = runDir(t)
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano() % 1_000_000_000
	}
	t.Logf("seed %d", cfg.Seed)
	cfg.Logf = t.Logf
	return &cfg, cfg.Out
}

// TestScenarioKillPausePartition runs every workload for 25 seconds on a
// 3-node zone while the leader or a random node is killed, paused, cut off
// and put behind lossy links, and expects a valid history with every fault applied.
func TestScenarioKillPausePartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	bin := cluster.Binary(t)
	cfg, _ := run(t, Config{
		Workloads:     []string{"payments", "register", "bank"},
		Nemeses:       []string{nemesis.Kill, nemesis.Pause, nemesis.Partition, nemesis.Lossy},
		Time:          25 * time.Second,
		Interval:      5 * time.Second,
		FaultDuration: 2500 * time.Millisecond,
		Binary:        bin,
		CheckTimeout:  20 * time.Second,
	})
	rep, summary := runScenario(t, cfg, 150*time.Second)
	if !strings.HasSuffix(summary, "valid: true\n") {
		t.Errorf("run is not valid: %s", whyNot(rep))
	}
	for _, k := range rep.Nemeses {
		if rep.Faults[k] == 0 {
			t.Errorf("fault %s was never applied (applied %v, failed %v)", k, rep.Faults, rep.Failed)
		}
	}
	if len(rep.Ops) < 1000 {
		t.Errorf("only %d history entries; the workload barely ran", len(rep.Ops))
	}
}

// TestScenarioZones runs every workload for 24 seconds on a 3-zone × 3-node
// cluster while a whole zone is killed and restarted and a zone is cut off
// from the meta voters outside it for twice the lease, and expects a valid
// history (the lease checker included) with both faults applied.
func TestScenarioZones(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	if err := cluster.PartitionSupport(); err != nil {
		t.Skipf("the zone-from-meta cut needs iptables: %v", err)
	}
	bin := cluster.Binary(t)
	cfg, _ := run(t, Config{
		Workloads:     []string{"payments", "register", "bank"},
		Nemeses:       []string{nemesis.KillZone, nemesis.PartitionZone},
		Zones:         3,
		Time:          24 * time.Second,
		Interval:      10 * time.Second,
		FaultDuration: 6 * time.Second,
		Binary:        bin,
		CheckTimeout:  20 * time.Second,
	})
	rep, summary := runScenario(t, cfg, 150*time.Second)
	if !rep.Valid || !strings.HasSuffix(summary, "valid: true\n") {
		t.Errorf("run is not valid: %s", whyNot(rep))
	}
	for _, k := range cfg.Nemeses {
		if rep.Faults[k] == 0 {
			t.Errorf("fault %s was never applied (applied %v, failed %v)", k, rep.Faults, rep.Failed)
		}
	}
	if !slices.ContainsFunc(rep.Results, func(r *checker.Result) bool { return r.Checker == "lease" && r.Stats["cuts"] > 0 }) {
		t.Errorf("the lease checker saw no zone cut")
	}
	if len(rep.Ops) < 1000 {
		t.Errorf("only %d history entries; the workload barely ran", len(rep.Ops))
	}
}

// TestInjectedBugsAreCaught runs a short scenario against a server built
// with -tags faultinject and one deliberate bug switched on, and expects
// the checkers to call the history invalid and name the anomaly the bug
// causes; the normal build must pass the same scenario. Most scenarios are
// fault-free on one zone; the lease fence's is a 3-zone cluster with one
// zone cut off from the meta group for longer than its lease. A bug's case
// skips when the server cannot be built with the tag or has no --inject
// flag, and a multi-zone case when partitions are unavailable.
func TestInjectedBugsAreCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	tests := []struct {
		name      string
		inject    string
		workloads []string
		// zones and nemeses shape a multi-zone scenario (a zone cut off from
		// the meta group); zero runs a fault-free single zone.
		zones   int
		nemeses []string
		// anomalies: at least one of them must be reported; none means
		// the run must be valid.
		anomalies []string
	}{
		{
			name:      "the normal build passes the same scenario",
			workloads: []string{"payments", "bank", "register"},
		},
		{
			name:      "skip-idempotency doubles replayed payments",
			inject:    "skip-idempotency",
			workloads: []string{"payments", "bank"},
			anomalies: []string{checker.DoubleCharge, checker.MoneyCreated},
		},
		{
			name:      "stale-read serves old state from followers",
			inject:    "stale-read",
			workloads: []string{"register"},
			anomalies: []string{checker.StaleRead},
		},
		{
			name:      "the normal build stops a cut-off zone's writes when its lease runs out",
			workloads: []string{"payments", "bank"},
			zones:     3,
			nemeses:   []string{nemesis.PartitionZone},
		},
		// The cut also parts the zone from its backup zone's leader when
		// that node is a meta voter (a1, b1 and c1 usually lead both), and
		// then guard marks alone stop the zone's writes: no write, no
		// anomaly. So the lease fence is shown without guard marks: with
		// the fence the run is valid, without it the lease checker sees
		// writes acknowledged after the lease ran out.
		{
			name:      "without guard marks, the lease fence alone stops a cut-off zone's writes",
			inject:    "drop-guard-mark",
			workloads: []string{"payments", "bank"},
			zones:     3,
			nemeses:   []string{nemesis.PartitionZone},
		},
		{
			name:      "no-lease-fence lets a cut-off zone write after its lease ran out",
			inject:    "drop-guard-mark,no-lease-fence",
			workloads: []string{"payments", "bank"},
			zones:     3,
			nemeses:   []string{nemesis.PartitionZone},
			anomalies: []string{checker.WriteAfterLeaseExpiry},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.zones > 0 {
				if err := cluster.PartitionSupport(); err != nil {
					t.Skipf("the zone-from-meta cut needs iptables: %v", err)
				}
			}
			if err := cluster.PartitionSupport(); err != nil && tt.inject != "" {
				t.Skipf("the cut before the kill needs iptables: %v", err)
			}
			bin := binaryFor(t, tt.inject)
			scenario := Config{Time: 8 * time.Second}
			if tt.zones > 0 {
				// One cut: it starts 2 to 6s in and lasts 7s, over twice the
				// 3s lease.
				scenario = Config{Zones: tt.zones, Nemeses: tt.nemeses, Time: 16 * time.Second,
					Interval: 20 * time.Second, FaultDuration: 7 * time.Second}
			}
			cfg, _ := run(t, Config{
				Workloads:     tt.workloads,
				Zones:         scenario.Zones,
				Nemeses:       scenario.Nemeses,
				Time:          scenario.Time,
				Interval:      scenario.Interval,
				FaultDuration: scenario.FaultDuration,
				Inject:        tt.inject,
				Binary:        bin,
				CheckTimeout:  20 * time.Second,
				// A planted bug may keep the applied index moving (seen
				// with skip-idempotency); do not wait long for quiet.
				SettleTimeout: 10 * time.Second,
			})
			rep, summary := runScenario(t, cfg, 90*time.Second)
			for _, k := range tt.nemeses {
				if rep.Faults[k] == 0 {
					t.Fatalf("fault %s was never applied (applied %v, failed %v)", k, rep.Faults, rep.Failed)
				}
			}
			if len(tt.anomalies) == 0 {
				if !rep.Valid || !strings.HasSuffix(summary, "valid: true\n") {
					t.Fatalf("--inject %q: fails the scenario the planted bugs are run in", tt.inject)
				}
				return
			}
			if rep.Valid || !strings.HasSuffix(summary, "valid: false\n") {
				t.Fatalf("--inject %s: run is valid; the checkers missed the bug", tt.inject)
			}
			var seen []string
			for _, r := range rep.Results {
				seen = append(seen, r.AnomalyKinds()...)
			}
			if !slices.ContainsFunc(tt.anomalies, func(a string) bool { return slices.Contains(seen, a) }) {
				t.Fatalf("--inject %s: anomalies %v name none of %v", tt.inject, seen, tt.anomalies)
			}
		})
	}
}

// TestScenarioFailover loses a whole zone of a 3-zone × 3-node cluster
// under the payments and bank workloads, lets the cluster fail it over on
// its own (failover.auto_after 500ms), runs the workloads against the
// failover store, restarts the zone and reconciles it; the set, bank and
// failover checkers judge the whole history. The normal build must end
// valid; with the planted drop-guard-mark bug (zone leaders write without
// guard marks) the failover checker must name guard-invariant-violated.
//
// The bug only shows when the zone dies holding writes its backup's
// replica has not applied. The failover nemesis makes that the rule rather
// than luck: eight extra workers pay for the zone's users from a second
// before the kill, and the zone is cut off from its backup zone (iptables)
// for the last second before it, so the zone commits writes (to accounts
// that the bug leaves unmarked) that the replica lacks; reconciliation then
// finds them. (Pausing the backup zone instead was tried and dropped: it
// pauses the meta leader when it lives there, and on waking it failed
// healthy zones over.) In the four runs of this test made with the cut,
// the injected case reported 3, 3, 5 and 2 such accounts; the one injected
// CLI run made without the cut (nor a pause) reported none. Without partitions the injected case is
// skipped: the bug then shows only by the luck of the kill's timing.
func TestScenarioFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	tests := []struct {
		name   string
		inject string
	}{
		{name: "the normal build fails over and reconciles cleanly"},
		{name: "drop-guard-mark is caught at reconciliation", inject: "drop-guard-mark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := cluster.PartitionSupport(); err != nil && tt.inject != "" {
				t.Skipf("the cut before the kill needs iptables: %v", err)
			}
			bin := binaryFor(t, tt.inject)
			// One failover: the load starts 2 to 6s in, the kill a
			// second later; the zone serves from the store for 4s.
			cfg, _ := run(t, Config{
				Workloads:     []string{"payments", "bank"},
				Nemeses:       []string{nemesis.Failover},
				Zones:         3,
				Time:          20 * time.Second,
				Interval:      20 * time.Second,
				FaultDuration: 4 * time.Second,
				Inject:        tt.inject,
				Binary:        bin,
				SettleTimeout: 15 * time.Second,
			})
			rep, summary := runScenario(t, cfg, 90*time.Second)
			if rep.Faults[nemesis.Failover] != 1 {
				t.Fatalf("failover not carried out (applied %v, failed %v)", rep.Faults, rep.Failed)
			}
			fo := resultOf(rep, "failover")
			if fo == nil || fo.Stats["reconciliations"] != 1 {
				t.Fatalf("the failover checker saw no reconciliation: %+v", fo)
			}
			if tt.inject == "" {
				if !rep.Valid || !strings.HasSuffix(summary, "valid: true\n") {
					t.Fatalf("the normal build fails the failover scenario: %s", whyNot(rep))
				}
				return
			}
			if rep.Valid || !strings.HasSuffix(summary, "valid: false\n") || !fo.Has(checker.GuardInvariantViolated) {
				t.Fatalf("--inject %s: the failover checker missed the bug (%v)", tt.inject, fo.AnomalyKinds())
			}
		})
	}
}

// TestScenarioSched runs the sched workload on a 3-zone × 3-node cluster:
// 300 users, statement, reminder and auto-debit runs and a second round of
// statements, while nodes (the leader or one at random) are killed and
// paused mid-run. The normal build must end valid with faults applied, every
// user checked and every run done; with the planted double-notify bug (a
// recorded statement or reminder applied again) the sched checker must
// name duplicate-statement, which the second round of statements alone
// makes certain, so that case runs without faults and for less time.
func TestScenarioSched(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	tests := []struct {
		name    string
		inject  string
		nemeses []string
		time    time.Duration
	}{
		{name: "the normal build sends one of each under kills and pauses", nemeses: []string{nemesis.Kill, nemesis.Pause}, time: 30 * time.Second},
		{name: "double-notify is caught", inject: "double-notify", time: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := binaryFor(t, tt.inject)
			cfg, _ := run(t, Config{
				Workloads:     []string{"sched"},
				Nemeses:       tt.nemeses,
				Zones:         3,
				Time:          tt.time,
				Interval:      7 * time.Second,
				FaultDuration: 2500 * time.Millisecond,
				Inject:        tt.inject,
				Binary:        bin,
				SettleTimeout: 20 * time.Second,
			})
			rep, summary := runScenario(t, cfg, 4*time.Minute)
			sc := resultOf(rep, "sched/sched")
			if sc == nil || sc.Stats["users"] != 300 || sc.Stats["runs"] < 4 {
				t.Fatalf("the sched checker did not check the workload: %+v", sc)
			}
			if tt.inject != "" {
				if rep.Valid || !strings.HasSuffix(summary, "valid: false\n") || !sc.Has(checker.DuplicateStatement) {
					t.Fatalf("--inject %s: the sched checker missed the bug (%v)", tt.inject, sc.AnomalyKinds())
				}
				return
			}
			if !rep.Valid || !strings.HasSuffix(summary, "valid: true\n") {
				t.Fatalf("run is not valid: %s", whyNot(rep))
			}
			if sc.Stats["runs-done"] != sc.Stats["runs"] {
				t.Errorf("runs not all done: %v", sc.Stats)
			}
			for _, k := range tt.nemeses {
				if rep.Faults[k] == 0 {
					t.Errorf("fault %s was never applied (applied %v, failed %v)", k, rep.Faults, rep.Failed)
				}
			}
		})
	}
}

// TestScenarioFailoverLive fails a zone over by the operator's command while
// it is alive and under load, its replication to the backup zone cut and
// its write replies lost from the command until the store serves, so that
// clients retry keys the zone decided in the failover store (failover-live
// with lost-reply). The normal build must end valid; each planted bug must
// be caught by name: unmarked-failing-over (writes acknowledged while
// failing over carry no guard mark, and reconciliation finds them as
// guard-invariant violations or loses them), zone-wins-merge
// (reconciliation keeps the zone's decision on a key the store decided
// otherwise, so a key the client was told is accepted ends declined).
func TestScenarioFailoverLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	if err := cluster.PartitionSupport(); err != nil {
		t.Skipf("the cut before the failover needs iptables: %v", err)
	}
	tests := []struct {
		name   string
		inject string
		want   []string // anomalies of which the run must show at least one
	}{
		{name: "the normal build keeps every acknowledged answer"},
		{name: "unmarked-failing-over is caught", inject: "unmarked-failing-over",
			want: []string{checker.GuardInvariantViolated, checker.LostWrite, checker.StatusFlip, checker.MoneyLost}},
		{name: "zone-wins-merge is caught", inject: "zone-wins-merge",
			want: []string{checker.StatusFlip}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := run(t, Config{
				Workloads:     []string{"payments", "bank"},
				Nemeses:       []string{nemesis.FailoverLive, nemesis.LostReply},
				Zones:         3,
				Time:          45 * time.Second,
				Interval:      14 * time.Second,
				FaultDuration: 3 * time.Second,
				Inject:        tt.inject,
				Binary:        binaryFor(t, tt.inject),
				SettleTimeout: 20 * time.Second,
			})
			rep, summary := runScenario(t, cfg, 4*time.Minute)
			if rep.Faults[nemesis.FailoverLive] == 0 || rep.Faults[nemesis.LostReply] == 0 {
				t.Fatalf("faults not carried out (applied %v, failed %v)", rep.Faults, rep.Failed)
			}
			if tt.inject == "" {
				if !rep.Valid || !strings.HasSuffix(summary, "valid: true\n") {
					t.Fatalf("the normal build fails the failover-live scenario: %s", whyNot(rep))
				}
				return
			}
			if rep.Valid || !strings.HasSuffix(summary, "valid: false\n") {
				t.Fatalf("--inject %s: the run ended valid", tt.inject)
			}
			var seen []string
			for _, r := range rep.Results {
				seen = append(seen, r.AnomalyKinds()...)
			}
			if !slices.ContainsFunc(tt.want, func(k string) bool { return slices.Contains(seen, k) }) {
				t.Fatalf("--inject %s: anomalies %v, want one of %v", tt.inject, seen, tt.want)
			}
		})
	}
}
