package fsm

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// TestOperationRecords follows a shard move, a failover and a recovery as
// operation records: the command that begins one records it, a repeat
// answers with the same record, its driver's updates change phase and
// progress, the command that ends it finishes it in the same apply, and a
// snapshot keeps them.
func TestOperationRecords(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	init := metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}, OpID: "a0", Time: 500})
	if init.Op == nil || init.Op.Kind != OpClusterInit || !init.Op.Done() || init.Op.Target != "A,B" || init.Index != idx {
		t.Fatalf("init's operation: %+v (index %d)", init.Op, init.Index)
	}
	shard := 0
	from := m.State().Shards[shard].Zone
	to := map[string]string{"A": "B", "B": "A"}[from]
	mv := metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: shard, Target: to, OpID: "b1", Time: 1000})
	if mv.Err != "" || mv.Op == nil || mv.Op.ID != "b1" || mv.Op.Kind != OpShardMove || mv.Op.From != from || mv.Op.To != to || mv.Op.Done() || mv.Op.Index != idx {
		t.Fatalf("move: %+v %+v", mv, mv.Op)
	}
	// Asked again (another id): the same operation.
	if again := metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: shard, Target: to, OpID: "b2", Time: 1001}); again.Op == nil || again.Op.ID != "b1" {
		t.Fatalf("a repeated move answered %+v", again.Op)
	}
	up := metaApply(t, m, &idx, MetaCmd{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "b1", Phase: "importing", Progress: 40, Detail: "2 of 5 batches"}, Time: 1100})
	if up.Err != "" || up.Op.Phase != "importing" || up.Op.Progress != 40 || up.Op.Updated != 1100 {
		t.Fatalf("update: %+v %+v", up, up.Op)
	}
	if drop := metaApply(t, m, &idx, MetaCmd{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "b1", Phase: "dropping", Progress: 85}, Time: 1110}); drop.Err != "" {
		t.Fatalf("update to dropping: %s", drop.Err)
	}
	// A late update from a deposed driver would send the next driver
	// back to importing from a source that has dropped the shard.
	if late := metaApply(t, m, &idx, MetaCmd{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "b1", Phase: "importing", Progress: 60}, Time: 1120}); late.Err == "" {
		t.Fatalf("a shard move went back from dropping to importing: %+v", late.Op)
	}
	if o, _ := m.State().Op("b1"); o.Phase != "dropping" || o.Progress != 85 {
		t.Fatalf("after a refused late update: %+v", o)
	}
	fin := metaApply(t, m, &idx, MetaCmd{Type: MetaFinishMove, Shard: shard, Target: to, Time: 1200})
	if fin.Op == nil || !fin.Op.Done() || fin.Op.Progress != 100 || fin.Op.Finished != 1200 || fin.Op.ID != "b1" {
		t.Fatalf("finish: %+v", fin.Op)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "b1", Phase: "importing"}, Time: 1300}); r.Err == "" {
		t.Fatal("a finished operation took an update")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "ffff", Phase: "x"}, Time: 1300}); r.Err == "" {
		t.Fatal("an update of no operation was accepted")
	}

	// Failover and recovery of A.
	metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A", Holder: "a1", Term: 1, DurationMs: 1000, Time: 1500})
	fo := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "A", OpID: "c1", Time: 2000})
	if fo.Op == nil || fo.Op.Kind != OpFailover || fo.Op.Target != "A" || fo.Op.Phase != PhaseFailingOver {
		t.Fatalf("failover: %+v", fo.Op)
	}
	if again := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "A", OpID: "c2", Time: 2001}); again.Op == nil || again.Op.ID != "c1" {
		t.Fatalf("a repeated failover answered %+v", again.Op)
	}
	grants := m.State().Leases[0].Grants
	if pr := metaApply(t, m, &idx, MetaCmd{Type: MetaPromote, Zone: "A", Group: "A-f9", Seed: "b1", LeaseGrants: &grants, Time: 3000}); pr.Op == nil || !pr.Op.Done() || pr.Op.ID != "c1" {
		t.Fatalf("promote: %+v %+v", pr, pr.Op)
	}
	// A failover asked for once the zone is failed over answers with the
	// finished one.
	if again := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "A", OpID: "c3", Time: 3001}); again.Op == nil || again.Op.ID != "c1" || !again.Op.Done() {
		t.Fatalf("failover of a failed-over zone answered %+v", again.Op)
	}
	rc := metaApply(t, m, &idx, MetaCmd{Type: MetaRecover, Zone: "A", OpID: "d1", Time: 4000})
	if rc.Op == nil || rc.Op.Kind != OpRecover || rc.Op.Done() {
		t.Fatalf("recover: %+v", rc.Op)
	}
	if fr := metaApply(t, m, &idx, MetaCmd{Type: MetaFinishRecover, Zone: "A", Group: "A-f9", Time: 5000}); fr.Op == nil || fr.Op.Done() || fr.Op.ID != "d1" || fr.Op.Phase != PhaseAwaitingLease {
		t.Fatalf("finish recover: %+v", fr.Op)
	}
	// It ends when the zone's leader renews its lease: the zone serves.
	metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A", Holder: "a1", Term: 2, DurationMs: 1000, Time: 5100})
	if o, _ := m.State().Op("d1"); !o.Done() || o.Finished != 5100 {
		t.Fatalf("recover after the zone's renewal: %+v", o)
	}

	// Recovering a zone that is home answers with its latest recovery.
	if again := metaApply(t, m, &idx, MetaCmd{Type: MetaRecover, Zone: "A", OpID: "d2", Time: 5200}); again.Err != "" || again.Op == nil || again.Op.ID != "d1" {
		t.Fatalf("recover of a zone at home: %+v", again)
	}
	if none := metaApply(t, m, &idx, MetaCmd{Type: MetaRecover, Zone: "B", OpID: "d3", Time: 5300}); none.Err != "" || none.Op == nil || !none.Op.Done() || none.Op.ID != "" {
		t.Fatalf("recover of a zone never failed over: %+v", none)
	}

	st := m.State()
	var kinds []string
	for _, o := range st.Ops {
		kinds = append(kinds, o.ID+":"+o.Kind+":"+o.Phase)
	}
	if got, want := fmt.Sprint(kinds), "[a0:cluster_init:done b1:shard_move:done c1:failover:done d1:recover:done]"; got != want {
		t.Fatalf("operations %s, want %s", got, want)
	}

	// A snapshot keeps them.
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	m2 := NewMeta(nil)
	if err := m2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if o, ok := m2.State().Op("b1"); !ok || o != st.Ops[1] {
		t.Fatalf("restored operation %+v, want %+v", o, st.Ops[1])
	}
}

// TestMalformedOperationCommandsChangeNothing applies malformed operation
// commands: each is answered Invalid and leaves the state as it was.
// TestRecoveryRecordEndsWhenTheZoneFailsOverAgain: a recovery waits for
// the zone's leader to renew its lease; a zone that fails over again
// before that closes the recovery's record rather than leaving it open.
func TestRecoveryRecordEndsWhenTheZoneFailsOverAgain(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}, OpID: "a0"})
	metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A", Holder: "a1", Term: 1, DurationMs: 1000, Time: 1500})
	metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "A", OpID: "c1", Time: 2000})
	grants := m.State().Leases[0].Grants
	metaApply(t, m, &idx, MetaCmd{Type: MetaPromote, Zone: "A", Group: "A-f9", Seed: "b1", LeaseGrants: &grants, Time: 3000})
	metaApply(t, m, &idx, MetaCmd{Type: MetaRecover, Zone: "A", OpID: "d1", Time: 4000})
	if fr := metaApply(t, m, &idx, MetaCmd{Type: MetaFinishRecover, Zone: "A", Group: "A-f9", Time: 5000}); fr.Op == nil || fr.Op.ID != "d1" || fr.Op.Done() {
		t.Fatalf("finish recover: %+v %+v", fr, fr.Op)
	}
	fo := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "A", OpID: "c2", Time: 6000})
	if fo.Err != "" || fo.Op == nil || fo.Op.ID != "c2" {
		t.Fatalf("the second failover: %+v %+v", fo, fo.Op)
	}
	if o, _ := m.State().Op("d1"); !o.Done() || o.Finished != 6000 {
		t.Fatalf("the recovery's record after a new failover: %+v", o)
	}
	if o, ok := m.State().ActiveOp(OpRecover, "A"); ok {
		t.Fatalf("a recovery is still open: %+v", o)
	}
}

func TestMalformedOperationCommandsChangeNothing(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
	to := map[string]string{"A": "B", "B": "A"}[m.State().Shards[3].Zone]
	metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: 3, Target: to, OpID: "0a", Time: 10})
	_, before, _ := m.Digest()
	for _, c := range []MetaCmd{
		{Type: MetaOpUpdate},
		{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "0A", Phase: "x"}},
		{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "", Phase: "x"}},
		{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "0a", Phase: ""}},
		{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "0a", Phase: OpDone}},
		{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "0a", Phase: "x", Progress: 101}},
		{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "0a", Phase: "x", Progress: -1}},
		{Type: MetaOpUpdate, OpUpdate: &OpUpdate{ID: "0a", Phase: "x", Detail: string(make([]byte, maxOpText+1))}},
		{Type: MetaFailover, Zone: "A", OpID: "not hex"},
		{Type: MetaMoveShard, Shard: 4, Target: "A", OpID: "0123456789abcdef0123456789abcdef0"},
	} {
		if r := metaApply(t, m, &idx, c); !r.Invalid {
			t.Fatalf("%+v (update %+v) answered %+v, want invalid", c, c.OpUpdate, r)
		}
	}
	if _, after, _ := m.Digest(); after != before {
		t.Fatal("a malformed operation command changed the meta state")
	}
}

// TestFinishedOperationsAreBounded keeps the latest maxOpsKept finished
// operations and every unfinished one.
func TestFinishedOperationsAreBounded(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
	home := m.State().Shards[1].Zone
	other := map[string]string{"A": "B", "B": "A"}[home]
	metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: 1, Target: other, OpID: "ff"})
	for i := 0; i < maxOpsKept+10; i++ {
		metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: 2, Target: map[string]string{"A": "B", "B": "A"}[m.State().Shards[2].Zone], OpID: fmt.Sprintf("%x", i+1)})
		metaApply(t, m, &idx, MetaCmd{Type: MetaFinishMove, Shard: 2, Target: m.State().Shards[2].Target})
	}
	st := m.State()
	if len(st.Ops) != maxOpsKept+1 {
		t.Fatalf("%d operations kept, want %d", len(st.Ops), maxOpsKept+1)
	}
	if o, ok := st.Op("ff"); !ok || o.Done() {
		t.Fatalf("the unfinished move was dropped: %+v", o)
	}
	if _, ok := st.Op("1"); ok {
		t.Fatal("the oldest finished operation was kept")
	}
}
