package cluster

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// metaHost is addrHost with a meta replica (never called: only whether
// there is one matters).
type metaHost struct {
	addrHost
	rep *zone.Replica
}

func (h metaHost) MetaReplica() *zone.Replica { return h.rep }

// TestApplyForwardedRefusesBeforeProposing: a malformed forwarded meta
// command, and one no node forwards, are refused without a look at the
// meta replica.
func TestApplyForwardedRefusesBeforeProposing(t *testing.T) {
	m := New(addrHost{}, Config{Clustered: true, Logger: slog.Default()})
	if _, err := m.ApplyForwarded(context.Background(), fsm.MetaCmd{Type: fsm.MetaSetNodeAddr}); !errors.Is(err, fsm.ErrInvalidCommand) {
		t.Errorf("a malformed command: %v, want ErrInvalidCommand", err)
	}
	_, err := m.ApplyForwarded(context.Background(), fsm.MetaCmd{Type: fsm.MetaSetNodeAddr, Node: &fsm.NodeInfo{ID: "a1", Zone: "A", HTTPAddr: "elsewhere"}})
	if ae, ok := err.(*api.Error); !ok || ae.Code != api.CodeInvalidArgument {
		t.Errorf("a forwarded node address: %v, want invalid_argument", err)
	}
}

// TestRoles: a node's gossip roles are its zone replicas' and "meta" once
// the meta group lists it as a voter.
func TestRoles(t *testing.T) {
	zones := zone.NewReplicaSet(nil, zone.SetConfig{Zone: "A"})
	zones.Add(zone.NewHosted("A", nil, nil, true, false))
	zones.Add(zone.NewHosted("C", nil, nil, false, false))
	meta := fsm.NewMeta(nil)
	cmd := fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "C"}, {Name: "C", Backup: "A"}},
		Nodes: []fsm.NodeInfo{{ID: "a1", Zone: "A", MetaVoter: true}, {ID: "c1", Zone: "C"}}, Time: 1}
	if r := meta.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: fsm.EncodeMeta(cmd)}).(fsm.MetaResult); r.Err != "" {
		t.Fatal(r.Err)
	}
	for _, tc := range []struct {
		id   string
		rep  *zone.Replica
		want []string
	}{
		{"a1", &zone.Replica{}, []string{"voter:zone-A", "follower:zone-C", "meta"}},
		{"c1", &zone.Replica{}, []string{"voter:zone-A", "follower:zone-C"}},
		{"a1", nil, []string{"voter:zone-A", "follower:zone-C"}},
	} {
		m := New(metaHost{addrHost{meta: meta, zones: zones}, tc.rep}, Config{NodeID: tc.id, Clustered: true, Logger: slog.Default()})
		if got := m.Roles(); !slices.Equal(got, tc.want) {
			t.Errorf("%s (meta replica %v): roles %v, want %v", tc.id, tc.rep != nil, got, tc.want)
		}
	}
}
