package zone

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
)

// metaOf is a meta state machine with zones A and B (each the other's
// backup) and nodes a1, a2, b1, b2; apply applies a command to it.
func metaOf(t *testing.T) (m *fsm.Meta, apply func(fsm.MetaCmd) fsm.MetaResult) {
	t.Helper()
	m = fsm.NewMeta(nil)
	var idx uint64
	apply = func(c fsm.MetaCmd) fsm.MetaResult {
		idx++
		if c.Time == 0 {
			c.Time = clock.Now().UnixMilli()
		}
		return m.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: fsm.EncodeMeta(c)}).(fsm.MetaResult)
	}
	nodes := []fsm.NodeInfo{{ID: "a1", Zone: "A", MetaVoter: true}, {ID: "a2", Zone: "A", MetaVoter: true},
		{ID: "b1", Zone: "B", MetaVoter: true}, {ID: "b2", Zone: "B"}}
	if r := apply(fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}, Nodes: nodes}); r.Err != "" {
		t.Fatal(r.Err)
	}
	return m, apply
}

func codeOf(err error) api.Code {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// TestMoveState: a move to a zone that does not exist is refused; a shard
// elsewhere is to be moved; a shard already in the target needs no move,
// and the answer is the move that brought it or a record saying so.
func TestMoveState(t *testing.T) {
	m, apply := metaOf(t)
	const shard = 5
	from := m.State().Shards[shard].Zone
	to := map[string]string{"A": "B", "B": "A"}[from]
	if _, _, aerr := MoveState(m, shard, "X"); aerr == nil || aerr.Code != api.CodeInvalidArgument {
		t.Fatalf("move to zone X: %v", aerr)
	}
	if o, there, aerr := MoveState(m, shard, to); aerr != nil || there {
		t.Fatalf("move from %s to %s: there %v, op %+v, err %v", from, to, there, o, aerr)
	}
	o, there, aerr := MoveState(m, shard, from)
	if aerr != nil || !there || !o.Done() || o.To != from || o.Shard != shard || o.Index != m.AppliedIndex() || o.Kind != fsm.OpShardMove {
		t.Fatalf("move to the zone it is in: there %v, op %+v, err %v", there, o, aerr)
	}
	mv := apply(fsm.MetaCmd{Type: fsm.MetaMoveShard, Shard: shard, Target: to, OpID: "0e1"})
	if mv.Err != "" {
		t.Fatal(mv.Err)
	}
	if _, there, _ := MoveState(m, shard, to); there {
		t.Fatal("a shard still moving is there already")
	}
	if r := apply(fsm.MetaCmd{Type: fsm.MetaFinishMove, Shard: shard, Target: to}); r.Err != "" {
		t.Fatal(r.Err)
	}
	if o, there, _ := MoveState(m, shard, to); !there || o.ID != "0e1" || !o.Done() {
		t.Fatalf("after the move: there %v, op %+v; want the move's own record", there, o)
	}
}

// TestCheckZoneCommand: a command on an unknown zone is not found; a zone
// whose lease is valid fails over only when forced.
func TestCheckZoneCommand(t *testing.T) {
	m, apply := metaOf(t)
	if aerr := CheckZoneCommand(m.State(), fsm.MetaFailover, "X", ""); aerr == nil || aerr.Code != api.CodeNotFound {
		t.Fatalf("failover of zone X: %v", aerr)
	}
	if aerr := CheckZoneCommand(m.State(), fsm.MetaFailover, "A", ""); aerr != nil {
		t.Fatalf("failover of a zone without a lease: %v", aerr)
	}
	if r := apply(fsm.MetaCmd{Type: fsm.MetaRenewLease, Zone: "A", Holder: "a1", Term: 2, DurationMs: 60_000}); r.Err != "" {
		t.Fatal(r.Err)
	}
	st := m.State()
	if aerr := CheckZoneCommand(st, fsm.MetaFailover, "A", ""); aerr == nil || aerr.Code != api.CodeLeaseValid {
		t.Fatalf("failover of a zone with a valid lease: %v", aerr)
	}
	if aerr := CheckZoneCommand(st, fsm.MetaFailover, "A", "maybe"); aerr == nil || aerr.Code != api.CodeInvalidArgument {
		t.Fatalf("force=maybe: %v", aerr)
	}
	if aerr := CheckZoneCommand(st, fsm.MetaFailover, "A", "true"); aerr != nil {
		t.Fatalf("forced failover: %v", aerr)
	}
	if aerr := CheckZoneCommand(st, fsm.MetaRecover, "A", "maybe"); aerr != nil {
		t.Fatalf("recover (the meta group judges it): %v", aerr)
	}
}

// TestShardOpsRefuse: the shard and marks commands refuse, before
// proposing anything, what this node cannot take: records of another
// shard, a group or zone it does not lead.
func TestShardOpsRefuse(t *testing.T) {
	m, _ := metaOf(t)
	s := NewReplicaSet(nil, SetConfig{NodeID: "a1", Zone: "A", Clustered: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := func(u uint64) fsm.Record {
		return fsm.Record{Bucket: "accounts", Key: binary.BigEndian.AppendUint64(nil, u), Value: []byte(`{"limit":100}`)}
	}
	if _, err := s.Import(m, 3, []fsm.Record{rec(4)}); codeOf(err) != api.CodeInvalidArgument || !strings.Contains(err.Error(), "posted to shard 3") {
		t.Fatalf("records of shard 4 posted to shard 3: %v", err)
	}
	if _, err := s.Import(m, 3, []fsm.Record{rec(3)}); codeOf(err) != api.CodeUnavailable {
		t.Fatalf("import on a node that leads no zone: %v", err)
	}
	if _, err := s.Merge(m, "A-f2", 3, []fsm.Record{rec(3)}); codeOf(err) != api.CodeUnavailable {
		t.Fatalf("merge on a node that leads no zone: %v", err)
	}
	if _, err := s.DropShard("B", 3, 1); codeOf(err) != api.CodeUnavailable {
		t.Fatalf("drop in a group the node does not host: %v", err)
	}
	if _, err := s.LeaderOf(""); codeOf(err) != api.CodeUnavailable {
		t.Fatalf("LeaderOf the own zone before it exists: %v", err)
	}
	if err := s.ApplyMarks(m, MarksRequest{Zone: "B", Marks: []fsm.Mark{{User: 1, Term: 1, Seq: 1}}}); codeOf(err) != api.CodeUnavailable {
		t.Fatalf("marks on a node that leads no zone: %v", err)
	}
	if _, err := s.ReadOwnGuard(context.Background(), "B", time.Second); codeOf(err) != api.CodeUnavailable {
		t.Fatalf("guard read on a node that leads no zone: %v", err)
	}
	// A standalone node has no meta group: a valid import or merge is
	// refused, not a nil dereference.
	if _, err := s.Import(nil, 3, []fsm.Record{rec(3)}); codeOf(err) != api.CodeInvalidArgument {
		t.Fatalf("import on a standalone node: %v", err)
	}
	if _, err := s.Merge(nil, "A-f2", 3, nil); codeOf(err) != api.CodeInvalidArgument {
		t.Fatalf("merge on a standalone node: %v", err)
	}
	if got := s.LedWith(nil); len(got) != 0 {
		t.Fatalf("LedWith of an empty set: %v", got)
	}
}
