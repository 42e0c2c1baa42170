package nemesis

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

func TestPlanIsDeterministicAndBounded(t *testing.T) {
	cfg := Config{Faults: []string{Kill, Pause, Partition}, Total: 20 * time.Second, Interval: 5 * time.Second, Duration: 2500 * time.Millisecond}
	a, b := Plan(42, cfg), Plan(42, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different plans:\n%v\n%v", a, b)
	}
	if c := Plan(43, cfg); reflect.DeepEqual(a, c) {
		t.Errorf("seeds 42 and 43 give the same plan %v", a)
	}
	seen := map[string]bool{}
	for i, s := range a {
		t.Logf("step %d: %s", i, s)
		seen[s.Fault] = true
		if s.At < 2*time.Second || s.At+s.Duration > cfg.Total-2*time.Second {
			t.Errorf("step %v outside the quiet margins", s)
		}
		if i > 0 && s.At < a[i-1].At+a[i-1].Duration {
			t.Errorf("step %v overlaps the previous one", s)
		}
	}
	if len(seen) != 3 {
		t.Errorf("a 20s plan with three kinds applies only %v", seen)
	}
	if Plan(1, Config{Total: time.Minute}) != nil {
		t.Error("no faults should plan nothing")
	}
}

func TestParseKinds(t *testing.T) {
	got, err := ParseKinds("kill, partition,kill")
	if err != nil || !reflect.DeepEqual(got, []string{Kill, Partition}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := ParseKinds("kill,flood"); err == nil || !strings.Contains(err.Error(), "flood") {
		t.Fatalf("unknown kind accepted: %v", err)
	}
}

// fake records the calls a nemesis makes.
type fake struct {
	mu    sync.Mutex
	calls []string
}

func (f *fake) log(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

func (f *fake) NodeIDs() []string                          { return []string{"n1", "n2", "n3"} }
func (f *fake) LeaderID(context.Context) (string, error)   { return "n2", nil }
func (f *fake) Kill(id string) error                       { f.log("kill " + id); return nil }
func (f *fake) Restart(_ context.Context, id string) error { f.log("restart " + id); return nil }
func (f *fake) Pause(id string) error                      { f.log("pause " + id); return nil }
func (f *fake) Resume(id string) error                     { f.log("resume " + id); return nil }
func (f *fake) Isolate(id string) error                    { f.log("isolate " + id); return fmt.Errorf("no iptables") }
func (f *fake) Heal() error                                { f.log("heal"); return nil }
func (f *fake) HealAll(context.Context) error              { f.log("heal-all"); return nil }

func TestNemesisRecordsWindows(t *testing.T) {
	f := &fake{}
	rec := history.NewRecorder(nil)
	steps := []Step{
		{At: 0, Duration: 10 * time.Millisecond, Fault: Kill, Target: TargetLeader},
		{At: 20 * time.Millisecond, Duration: 10 * time.Millisecond, Fault: Pause, Target: TargetRandom, Pick: 3},
		{At: 40 * time.Millisecond, Duration: 10 * time.Millisecond, Fault: Partition, Target: TargetRandom, Pick: 2},
	}
	counts := (&Nemesis{C: f, Rec: rec}).Run(context.Background(), steps)
	want := []string{"kill n2", "restart n2", "pause n1", "resume n1", "isolate n3", "heal", "heal-all"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	if counts.Summary() != "kill=1 partition=0(+1 failed) pause=1" {
		t.Errorf("summary %q", counts.Summary())
	}
	ws := history.Windows(rec.Ops())
	if len(ws) != 3 || ws[0].Fault != Kill || ws[2].Error == "" || ws[1].End <= ws[1].Start {
		t.Errorf("windows %+v", ws)
	}
}

// lfake is a fake cluster that can drop packets.
type lfake struct{ fake }

func (f *lfake) Lossy(id string, loss float64) error {
	f.log(fmt.Sprintf("lossy %s %.2f", id, loss))
	return nil
}

func TestNemesisLossy(t *testing.T) {
	steps := []Step{{At: 0, Duration: 10 * time.Millisecond, Fault: Lossy, Target: TargetRandom, Pick: 4}}
	f := &lfake{}
	rec := history.NewRecorder(nil)
	counts := (&Nemesis{C: f, Rec: rec}).Run(context.Background(), steps)
	want := []string{"lossy n2 0.30", "heal", "heal-all"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	if counts.Summary() != "lossy=1" {
		t.Errorf("summary %q", counts.Summary())
	}
	// A cluster that cannot drop packets fails the fault, recorded as such.
	plain := &fake{}
	counts = (&Nemesis{C: plain, Rec: history.NewRecorder(nil)}).Run(context.Background(), steps)
	if counts.Summary() != "lossy=0(+1 failed)" {
		t.Errorf("summary without packet drops %q", counts.Summary())
	}
}

func TestNemesisStopsOnCancel(t *testing.T) {
	f := &fake{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	(&Nemesis{C: f, Rec: history.NewRecorder(nil)}).Run(ctx, []Step{
		{At: 0, Duration: time.Hour, Fault: Pause, Target: TargetLeader},
		{At: time.Hour, Duration: time.Second, Fault: Kill, Target: TargetLeader},
	})
	if time.Since(start) > 5*time.Second {
		t.Fatal("Run ignored cancellation")
	}
	want := []string{"pause n2", "resume n2", "heal-all"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
}

// zfake is a fake multi-zone cluster of zones A and B.
type zfake struct{ fake }

func (f *zfake) Zones() []string { return []string{"A", "B"} }
func (f *zfake) ZoneNodeIDs(z string) []string {
	return []string{strings.ToLower(z) + "1", strings.ToLower(z) + "2"}
}
func (f *zfake) KillZone(z string) error { f.log("kill-zone " + z); return nil }
func (f *zfake) CutZoneFromMeta(_ context.Context, z string) ([]string, error) {
	f.log("cut " + z)
	return []string{"x1", "y1"}, nil
}
func (f *zfake) KillAll() error                    { f.log("kill-all"); return nil }
func (f *zfake) RestartDown(context.Context) error { f.log("restart-down"); return nil }

func TestNemesisZoneFaults(t *testing.T) {
	steps := []Step{
		{At: 0, Duration: 10 * time.Millisecond, Fault: KillZone, Pick: 1},
		{At: 20 * time.Millisecond, Duration: 10 * time.Millisecond, Fault: PartitionZone, Pick: 0},
		{At: 40 * time.Millisecond, Duration: 10 * time.Millisecond, Fault: RestartAll},
	}
	t.Run("multi-zone cluster", func(t *testing.T) {
		f := &zfake{}
		rec := history.NewRecorder(nil)
		counts := (&Nemesis{C: f, Rec: rec, LeaseZone: "B"}).Run(context.Background(), steps)
		want := []string{"kill-zone B", "restart-down", "cut B", "heal", "kill-all", "restart-down", "heal-all"}
		if !reflect.DeepEqual(f.calls, want) {
			t.Fatalf("calls %v, want %v", f.calls, want)
		}
		if got := counts.Summary(); got != "kill-zone=1 partition-zone=1 restart-all=1" {
			t.Errorf("summary %q", got)
		}
		ws := history.Windows(rec.Ops())
		if len(ws) != 3 || ws[1].Zone != "B" || !reflect.DeepEqual(ws[1].Targets, []string{"b1", "b2"}) ||
			ws[1].HealStart < ws[1].Start || ws[1].HealStart > ws[1].End {
			t.Errorf("windows %+v", ws)
		}
	})
	t.Run("a cluster without zones fails them", func(t *testing.T) {
		f := &fake{}
		counts := (&Nemesis{C: f, Rec: history.NewRecorder(nil)}).Run(context.Background(), steps)
		if got := counts.Summary(); got != "kill-zone=0(+1 failed) partition-zone=0(+1 failed) restart-all=0(+1 failed)" {
			t.Errorf("summary %q", got)
		}
	})
}

// ffake is a fake cluster whose zones fail over: a killed zone's phase
// becomes failover once polled, and normal again after a recover.
type ffake struct {
	zfake
	phase map[string]string
}

func (f *ffake) KillZone(z string) error {
	f.log("kill-zone " + z)
	f.mu.Lock()
	f.phase[z] = "failover"
	f.mu.Unlock()
	return nil
}
func (f *ffake) ZoneState(_ context.Context, z string) (*history.Reconcile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &history.Reconcile{Phase: f.phase[z], Store: z + "-f2", Ready: f.phase[z] != "failover"}
	if st.Phase == "" {
		st.Phase = "normal"
	}
	if f.phase[z] == "normal" {
		st.Report = &history.ReconcileReport{Shards: 50, Violations: []uint64{7}}
	}
	return st, nil
}
func (f *ffake) RecoverZone(_ context.Context, z string, _ time.Duration) error {
	f.log("recover " + z)
	f.mu.Lock()
	f.phase[z] = "normal"
	f.mu.Unlock()
	return nil
}
func (f *ffake) Backup(z string) string { return map[string]string{"A": "B", "B": "A"}[z] }
func (f *ffake) CutZones(a, b string) error {
	f.log("cut " + a + "|" + b)
	return nil
}

func TestNemesisFailover(t *testing.T) {
	f := &ffake{phase: map[string]string{}}
	rec := history.NewRecorder(nil)
	var loaded []string
	n := &Nemesis{C: f, Rec: rec, AutoFailover: true, BackupLag: time.Millisecond,
		LoadZone:  func(z string, d time.Duration) { loaded = append(loaded, z) },
		PauseAuto: func(on bool) error { f.log(fmt.Sprintf("auto %v", on)); return nil }}
	counts := n.Run(context.Background(), []Step{{At: 0, Duration: 10 * time.Millisecond, Fault: Failover, Pick: 1}})
	want := []string{"cut B|A", "kill-zone B", "heal", "restart-down", "auto false", "recover B", "auto true", "heal-all"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	if !reflect.DeepEqual(loaded, []string{"B"}) {
		t.Errorf("load on %v, want [B]", loaded)
	}
	if got := counts.Summary(); got != "failover=1 failover.failover=1 failover.kill=1 failover.lag=1 failover.recover=1 failover.restart=1 failover.serve=1" {
		t.Errorf("summary %q", got)
	}
	var steps []string
	var report *history.Reconcile
	for _, op := range rec.Ops() {
		if op.F == history.FFaultStep {
			steps = append(steps, op.Step)
			if op.StepStart > op.Time {
				t.Errorf("step %s ends before it starts", op.Step)
			}
			if op.Step == StepRecover {
				report = op.Reconcile
			}
		}
	}
	if !reflect.DeepEqual(steps, []string{StepLag, StepKill, StepFailover, StepServe, StepRestart, StepRecover}) {
		t.Errorf("steps %v", steps)
	}
	if report == nil || report.Report == nil || len(report.Report.Violations) != 1 {
		t.Errorf("recover step carries %+v, want the zone's report", report)
	}
	ws := history.Windows(rec.Ops())
	if len(ws) != 1 || ws[0].Zone != "B" || ws[0].Error != "" {
		t.Errorf("windows %+v", ws)
	}
}
