package cluster

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/zone"
)

// addrHost is a node with a meta state machine or a standalone zone's,
// and nothing else.
type addrHost struct {
	Host
	meta  *fsm.Meta
	zones *zone.ReplicaSet
}

func (h addrHost) MetaFSM() *fsm.Meta      { return h.meta }
func (h addrHost) Zones() *zone.ReplicaSet { return h.zones }

// TestHTTPAddrOf: a cluster node reads a node's API address from the meta
// group's node list; a standalone node from its zone's registrations,
// which it caches until ForgetAddrs.
func TestHTTPAddrOf(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		m := New(addrHost{}, Config{Clustered: true, Logger: slog.Default()})
		if a := m.HTTPAddrOf("a1"); a != "" {
			t.Fatalf("no meta group yet: %q", a)
		}
		meta := fsm.NewMeta(nil)
		cmd := fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "A"}},
			Nodes: []fsm.NodeInfo{{ID: "a1", Zone: "A", HTTPAddr: "h1", RaftAddr: "r1", MetaVoter: true}}, Time: 1}
		if r := meta.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: fsm.EncodeMeta(cmd)}).(fsm.MetaResult); r.Err != "" {
			t.Fatal(r.Err)
		}
		m = New(addrHost{meta: meta}, Config{Clustered: true, Logger: slog.Default()})
		if a, b := m.HTTPAddrOf("a1"), m.HTTPAddrOf("a2"); a != "h1" || b != "" {
			t.Fatalf("a1 at %q, a2 at %q; want h1 and none", a, b)
		}
	})
	t.Run("standalone", func(t *testing.T) {
		zones := zone.NewReplicaSet(nil, zone.SetConfig{Zone: "A"})
		m := New(addrHost{zones: zones}, Config{Logger: slog.Default()})
		if a := m.HTTPAddrOf("n1"); a != "" {
			t.Fatalf("no zone yet: %q", a)
		}
		f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zones.Add(zone.NewHosted("A", nil, f, true, false))
		register := func(index uint64, addr string) {
			t.Helper()
			c := fsm.Command{Type: fsm.CmdRegisterNode, NodeID: "n1", RaftAddr: "r1", HTTPAddr: addr, Time: 1}
			f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: fsm.Encode(nil, c)})
		}
		register(1, "h1")
		if a := m.HTTPAddrOf("n1"); a != "h1" {
			t.Fatalf("n1 at %q, want h1", a)
		}
		register(2, "h2")
		if a := m.HTTPAddrOf("n1"); a != "h1" {
			t.Fatalf("n1 at %q before ForgetAddrs, want the cached h1", a)
		}
		m.ForgetAddrs()
		if a := m.HTTPAddrOf("n1"); a != "h2" {
			t.Fatalf("n1 at %q after ForgetAddrs, want h2", a)
		}
	})
}
