package fsm

import (
	"testing"

	"github.com/hashicorp/raft"
)

func TestShardOwnershipFencesWrites(t *testing.T) {
	h := setup(t)
	// Standalone: every user is owned.
	if r := h.one(putAcc(105, 1000)); r.Code != OK {
		t.Fatalf("standalone put: %+v", r)
	}
	h.one(pay(105, "before", 10))
	// Given shards 5 and 7 at epoch 1, the zone owns only those.
	h.one(Command{Type: CmdSetShards, Shards: []byte{5, 7}, Epoch: 1, Own: true})
	if r := h.one(pay(105, "owned", 10)); r.Code != OK {
		t.Fatalf("pay on owned shard 5: %+v", r)
	}
	if r := h.one(putAcc(106, 1000)); r.Code != WrongZone {
		t.Fatalf("put on shard 6: %+v", r)
	}
	// Releasing shard 5 at epoch 2 refuses its writes; posting skips them.
	h.one(Command{Type: CmdSetShards, Shards: []byte{5}, Epoch: 2, Own: false})
	if r := h.one(pay(105, "after", 10)); r.Code != WrongZone || r.Epoch != 2 {
		t.Fatalf("pay after release: %+v", r)
	}
	if r := h.one(repay(105, "r", 1)); r.Code != WrongZone {
		t.Fatalf("repay after release: %+v", r)
	}
	if n := h.postAll(); n != 0 {
		t.Fatalf("posted %d payments of a released shard", n)
	}
	// An older epoch cannot take it back.
	h.one(Command{Type: CmdSetShards, Shards: []byte{5}, Epoch: 1, Own: true})
	if r := h.one(pay(105, "stale", 10)); r.Code != WrongZone {
		t.Fatalf("stale epoch re-owned shard 5: %+v", r)
	}
	owned, sharded, _ := h.f.Shards()
	if !sharded || len(owned) != 1 || owned[7] != 1 {
		t.Fatalf("shards: %v %v", owned, sharded)
	}
	if r := h.one(Command{Type: CmdSetShards, Shards: []byte{100}, Epoch: 3, Own: true}); r.Code != Invalid {
		t.Fatalf("shard 100: %+v", r)
	}
}

func metaApply(t *testing.T, m *Meta, idx *uint64, c MetaCmd) MetaResult {
	t.Helper()
	*idx++
	return m.Apply(&raft.Log{Index: *idx, Type: raft.LogCommand, Data: EncodeMeta(c)}).(MetaResult)
}

func TestMetaRoutesLeasesConfig(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	zones := []ZoneInfo{{Name: "C", Backup: "A"}, {Name: "A", Backup: "B"}, {Name: "B", Backup: "C"}}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: zones, Nodes: []NodeInfo{{ID: "b1", Zone: "B"}, {ID: "a1", Zone: "A"}}}); r.Err != "" || r.Epoch != 1 {
		t.Fatalf("init: %+v", r)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: zones}); r.Err == "" {
		t.Fatal("second init accepted")
	}
	st := m.State()
	count := map[string]int{}
	for _, s := range st.Shards {
		count[s.Zone]++
	}
	if len(st.Shards) != 100 || count["A"] != 34 || count["B"] != 33 || count["C"] != 33 {
		t.Fatalf("shards not spread evenly: %v", count)
	}
	if z, e := st.Route(101); z != "B" || e != 1 {
		t.Fatalf("route 101: %s %d", z, e)
	}
	// Moving a shard bumps the epoch twice: once to start, once to finish.
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: 1, Target: "C"}); r.Err != "" || r.Epoch != 2 {
		t.Fatalf("move: %+v", r)
	}
	if z, _ := m.State().Route(1); z != "B" {
		t.Fatalf("route during move: %s", z)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaMoveShard, Shard: 1, Target: "A"}); r.Err == "" {
		t.Fatal("a second move of a moving shard was accepted")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFinishMove, Shard: 1, Target: "C"}); r.Err != "" || r.Epoch != 3 {
		t.Fatalf("finish: %+v", r)
	}
	if z, e := m.State().Route(1); z != "C" || e != 3 {
		t.Fatalf("route after move: %s %d", z, e)
	}
	// Leases extend and refuse an older term while valid.
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Time: 1000, Zone: "A", Holder: "a1", Term: 5, DurationMs: 3000}); r.Err != "" || r.Lease.Until != 4000 {
		t.Fatalf("lease: %+v", r)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Time: 1500, Zone: "A", Holder: "a2", Term: 4, DurationMs: 3000}); r.Err == "" {
		t.Fatalf("older term renewed: %+v", r)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Time: 2000, Zone: "A", Holder: "a2", Term: 6, DurationMs: 3000}); r.Err != "" || r.Lease.Until != 5000 || r.Lease.Holder != "a2" {
		t.Fatalf("newer term: %+v", r)
	}
	// Config is versioned with compare-and-set.
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaSetConfig, Key: "k", Value: "v1"}); r.Item.Version != 1 {
		t.Fatalf("config: %+v", r)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaSetConfig, Key: "k", Value: "v2", ExpectedVersion: 7}); r.Err == "" {
		t.Fatal("CAS with a wrong version accepted")
	}
	// Snapshot and restore give the same state.
	snap, _ := m.Snapshot()
	var sink memSink
	snap.Persist(&sink)
	m2 := NewMeta(nil)
	if err := m2.Restore(nopCloser{bytesReader(sink.Bytes())}); err != nil {
		t.Fatal(err)
	}
	a, b := m.State(), m2.State()
	if a.Epoch != b.Epoch || len(a.Leases) != len(b.Leases) || a.Shards[1] != b.Shards[1] || m2.AppliedIndex() != idx {
		t.Fatalf("restored meta differs")
	}
}

func TestExportIngestMovesAShard(t *testing.T) {
	src, dst := setup(t), setup(t)
	src.one(Command{Type: CmdSetShards, Shards: []byte{5, 6}, Epoch: 1, Own: true})
	dst.one(Command{Type: CmdSetShards, Shards: []byte{7}, Epoch: 1, Own: true})
	for _, u := range []uint64{5, 105, 6} {
		src.one(putAcc(u, 10_000))
		src.one(pay(u, "a", 100))
	}
	src.postAll()
	src.one(pay(105, "unposted", 40))
	src.one(repay(5, "r", 30))
	// Shard 5 leaves src at epoch 2.
	src.one(Command{Type: CmdSetShards, Shards: []byte{5}, Epoch: 2, Own: false})
	recs, err := src.f.ExportShard(5)
	if err != nil {
		t.Fatal(err)
	}
	if r := dst.one(Command{Type: CmdIngest, Records: recs}); r.Code != OK {
		t.Fatalf("ingest: %+v", r)
	}
	dst.one(Command{Type: CmdSetShards, Shards: []byte{5}, Epoch: 3, Own: true})
	for _, u := range []uint64{5, 105} {
		a, _ := src.f.Account(u)
		b, err := dst.f.Account(u)
		if err != nil || *a != *b {
			t.Fatalf("account %d moved as %+v, was %+v (%v)", u, b, a, err)
		}
	}
	if _, err := dst.f.Account(6); err == nil {
		t.Fatal("a user of another shard moved")
	}
	// The new zone posts the unposted payment; the old one forgets it.
	if n := dst.postAll(); n != 1 {
		t.Fatalf("new zone posted %d, want 1", n)
	}
	if n := src.postAll(); n != 0 {
		t.Fatalf("old zone posted %d after the move", n)
	}
	if refs, _ := src.f.Unposted(10); len(refs) != 0 {
		t.Fatalf("old zone still indexes %v", refs)
	}
	checkMoney(t, dst.f)
	// Ingest refuses to overwrite a shard the zone owns.
	if r := dst.one(Command{Type: CmdIngest, Records: recs}); r.Code != Invalid {
		t.Fatalf("ingest over an owned shard: %+v", r)
	}
}
