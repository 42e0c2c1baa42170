package fsm

import (
	"bytes"
	"io"
	"testing"
)

// TestNodeLifecycleCommands follows nodes through removal, drain and join:
// a removed meta voter's place goes to a spare of its zone, a removed id
// cannot join again, a new id joins, a drained node takes no scheduler
// task, and a snapshot keeps it all.
func TestNodeLifecycleCommands(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	nodes := []NodeInfo{
		{ID: "a1", Zone: "A", MetaVoter: true}, {ID: "a2", Zone: "A"}, {ID: "a3", Zone: "A"},
		{ID: "b1", Zone: "B", MetaVoter: true}, {ID: "b2", Zone: "B"},
		{ID: "c1", Zone: "C", MetaVoter: true},
	}
	metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "C"}, {Name: "C", Backup: "A"}}, Nodes: nodes, Time: 1})

	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRemoveNode, NodeID: "a1", Time: 2}); r.Err != "" || r.MetaVoter != "a2" {
		// The result names the new voter: the reply to the removal shows
		// it whatever the answering node's replica has applied.
		t.Fatalf("remove a1: %q, new meta voter %q, want a2", r.Err, r.MetaVoter)
	}
	st := m.State()
	if _, ok := st.Node("a1"); ok || !st.Removed("a1") {
		t.Fatalf("a1 still listed or not marked removed: %+v %v", st.Nodes, st.RemovedNodes)
	}
	if nd, _ := st.Node("a2"); !nd.MetaVoter || st.metaVoters() != 3 {
		t.Fatalf("a1's meta vote went to %+v; %d voters", st.Nodes, st.metaVoters())
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRemoveNode, NodeID: "a1", Time: 3}); r.Err != "" {
		t.Fatalf("a repeated removal: %s", r.Err)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaRemoveNode, NodeID: "c1", Time: 3}); r.Err == "" {
		t.Fatal("the last node of zone C was removed")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaAddNode, Node: &NodeInfo{ID: "a1", Zone: "A"}, Time: 4}); r.Err == "" {
		t.Fatal("a removed id joined again")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaAddNode, Node: &NodeInfo{ID: "a4", Zone: "A", RaftAddr: "r", HTTPAddr: "h"}, Time: 5}); r.Err != "" {
		t.Fatalf("a4 joins: %s", r.Err)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaAddNode, Node: &NodeInfo{ID: "x1", Zone: "X"}, Time: 5}); r.Err == "" {
		t.Fatal("a node of no zone joined")
	}
	if nd, ok := m.State().Node("a4"); !ok || nd.MetaVoter || nd.HTTPAddr != "h" {
		t.Fatalf("a4: %+v %v (the meta group has its 3 voters)", nd, ok)
	}

	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaDrainNode, NodeID: "b2", Time: 6}); r.Err != "" || !m.State().Drained("b2") {
		t.Fatalf("drain b2: %+v", r)
	}
	metaApply(t, m, &idx, MetaCmd{Type: MetaSchedResume, Sched: &SchedCmd{Term: 1}, Time: 7})
	r := metaApply(t, m, &idx, MetaCmd{Type: MetaSchedLease, Sched: &SchedCmd{Term: 1, Worker: "b2", Zone: "B", Max: 1, TTLMs: 1000}, Time: 8})
	if r.Err == "" {
		t.Fatal("a drained worker was granted a lease")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaDrainNode, NodeID: "b2", Undrain: true, Time: 9}); r.Err != "" || m.State().Drained("b2") {
		t.Fatalf("undrain b2: %+v", r)
	}

	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	m2 := NewMeta(nil)
	if err := m2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !m2.State().Removed("a1") {
		t.Fatal("the snapshot lost the removed ids")
	}
}
