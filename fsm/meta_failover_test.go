package fsm

import "testing"

// TestMetaFailoverPhases walks a zone through a failover and back, and
// checks the fences: no renewal while failed over, no promotion before the
// zone's last lease has ended.
func TestMetaFailoverPhases(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "C"}, {Name: "C", Backup: "A"}}})
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A", Holder: "a1", Term: 2, DurationMs: 3000, Time: 1000}); r.Err != "" {
		t.Fatal(r.Err)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "A", Time: 2000}); r.Err != "" {
		t.Fatal(r.Err)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A", Holder: "a1", Term: 2, DurationMs: 3000, Time: 2100}); r.Err == "" {
		t.Fatal("a failing-over zone renewed its lease")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaPromote, Zone: "A", Group: "A-f2", Seed: "b1", Time: 4000}); r.Err == "" {
		t.Fatal("promotion before the lease ended was accepted")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaPromote, Zone: "A", Group: "A-f2", Seed: "b1", Blacklist: []uint64{9, 3, 9}, Time: 4001}); r.Err != "" {
		t.Fatal(r.Err)
	}
	st := m.State()
	if z, _ := st.ZoneOf("A"); z.Phase != PhaseFailover || len(z.Failover.Blacklist) != 2 {
		t.Fatalf("zone A after promotion: %+v %+v", z, z.Failover)
	}
	moved := 0
	for _, r := range st.Shards {
		if r.Zone == "A" {
			t.Fatal("a shard stayed with the failed zone")
		}
		if r.Zone == "A-f2" {
			moved++
		}
	}
	if moved == 0 || st.HostZone("A-f2") != "B" {
		t.Fatalf("moved %d shards, host %q", moved, st.HostZone("A-f2"))
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A-f2", Holder: "b1", Term: 1, DurationMs: 3000, Time: 4100}); r.Err != "" {
		t.Fatalf("the store's lease: %s", r.Err)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: 0, Target: "C"}); r.Err == "" {
		t.Fatal("a shard move out of a failed-over zone was accepted")
	}
	metaApply(t, m, &idx, MetaCmd{Type: MetaRecover, Zone: "A", Time: 9000})
	for _, r := range m.State().Shards {
		if r.Zone == "A-f2" && r.Target != "A" {
			t.Fatalf("store shard not moving back: %+v", r)
		}
	}
	// While the recovery merges the store, the store's shards have the
	// home zone as Target: neither a move there nor a move's finishing
	// command may route one home before the merge.
	storeShard := -1
	for i, r := range m.State().Shards {
		if r.Zone == "A-f2" {
			storeShard = i
			break
		}
	}
	before := m.State().Shards[storeShard]
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: storeShard, Target: "A", OpID: "a1b2c3", Time: 9100}); r.Err == "" {
		t.Fatalf("a move home of store shard %d during its recovery was accepted: %+v", storeShard, r.Op)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFinishMove, Shard: storeShard, Target: "A", Time: 9200}); r.Err == "" {
		t.Fatalf("a move's finish routed store shard %d home during its recovery", storeShard)
	}
	if got := m.State().Shards[storeShard]; got != before {
		t.Fatalf("store shard %d changed during recovery: %+v, was %+v", storeShard, got, before)
	}
	if _, ok := m.State().ActiveOp(OpShardMove, ShardTarget(storeShard)); ok {
		t.Fatal("a shard move operation was begun on a store shard under recovery")
	}
	rep := &FailoverReport{Shards: moved, Voided: []VoidedPayment{{User: 3, Key: "k", Amount: 5}}}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFinishRecover, Zone: "A", Group: "A-f2", Report: rep, Time: 9500}); r.Err != "" {
		t.Fatal(r.Err)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFinishRecover, Zone: "A", Group: "A-f2", Time: 9600}); r.Err != "" {
		t.Fatalf("finishing twice: %s", r.Err)
	}
	st = m.State()
	if l, _ := st.Lease("A"); l.Until < 9500+RecoverGraceMs {
		t.Fatalf("lease of A after recovery ends at %d: an automatic failover would fire at once", l.Until)
	}
	z, _ := st.ZoneOf("A")
	if z.PhaseOf() != PhaseNormal || z.Failover.Report == nil || len(z.Failover.Report.Voided) != 1 {
		t.Fatalf("zone A after recovery: %+v", z)
	}
	n := 0
	for _, r := range st.Shards {
		if r.Zone == "A" {
			n++
		}
	}
	if n != moved {
		t.Fatalf("%d shards back in A, want %d", n, moved)
	}
	if p := z.ShownPhase(); p != PhaseReconciling {
		t.Fatalf("zone A shown %s before its leader renewed its lease", p)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A", Holder: "a1", Term: 3, DurationMs: 3000, Time: 9700}); r.Err != "" {
		t.Fatalf("renewal after recovery: %s", r.Err)
	}
	if z, _ := m.State().ZoneOf("A"); z.ShownPhase() != PhaseNormal || z.Failover.Home != 9700 {
		t.Fatalf("zone A after its leader's renewal: shown %s, %+v", z.ShownPhase(), z.Failover)
	}
	// C, backed up by A, wrote unmarked while A was away: it cannot be
	// failed over until its leader has re-established its marks.
	if z, _ := m.State().ZoneOf("C"); !z.GuardGap {
		t.Fatal("zone C has no guard gap after its backup's recovery")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "C", Time: 9800}); r.Err == "" {
		t.Fatal("a zone with a guard gap was failed over")
	}
	metaApply(t, m, &idx, MetaCmd{Type: MetaGuardReady, Zone: "C"})
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "C", Time: 9900}); r.Err != "" {
		t.Fatalf("failover of C after its gap closed: %s", r.Err)
	}
}

// TestPromoteNamesTheGrantItWaitedOut: a promotion names the lease grant
// count its proposer waited out. One naming an older grant is refused (a
// renewal came after its wait began); one naming the latest is taken
// whatever its wall-clock time says about the lease's recorded end, which
// another meta leader's clock stamped.
func TestPromoteNamesTheGrantItWaitedOut(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
	for i := int64(0); i < 3; i++ {
		if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A", Holder: "a1", Term: 2, DurationMs: 3000, Time: 10_000 + i}); r.Err != "" {
			t.Fatal(r.Err)
		}
	}
	l, _ := m.State().Lease("A")
	if l.Grants != 3 || l.DurationMs != 3000 {
		t.Fatalf("lease after three renewals: %+v", l)
	}
	metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "A", Time: 10_100})
	stale, latest := uint64(2), uint64(3)
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaPromote, Zone: "A", Group: "A-f9", Seed: "b1", LeaseGrants: &stale, Time: 99_000}); r.Err == "" {
		t.Fatal("a promotion that waited out an older grant was accepted")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaPromote, Zone: "A", Group: "A-f9", Seed: "b1", LeaseGrants: &latest, Time: 5_000}); r.Err != "" {
		t.Fatalf("a promotion that waited out the latest grant, stamped by a clock behind the granter's: %s", r.Err)
	}
}
