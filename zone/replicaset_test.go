package zone

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/mux"
)

// TestOpenFoundOnlyZoneFolders: a data folder without groups opens
// nothing; one with only other groups' folders and stray files opens
// nothing either (the meta group's is the node's).
func TestOpenFoundOnlyZoneFolders(t *testing.T) {
	dir := t.TempDir()
	s := NewReplicaSet(nil, SetConfig{Zone: "A", DataDir: dir})
	if err := s.OpenFound(); err != nil {
		t.Fatalf("no groups folder: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "groups", "meta"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "groups", "zone-B"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.OpenFound(); err != nil || len(s.List()) != 0 {
		t.Fatalf("opened %d replicas (%v), want none", len(s.List()), err)
	}
}

// TestServing: only the groups this node votes in, leads and has set up
// may write (standalone: no lease to hold).
func TestServing(t *testing.T) {
	r := bootstrapOne(t)
	s := NewReplicaSet(nil, SetConfig{Zone: "A"})
	ready := NewHosted("A", r.rep, r.f, true, false)
	ready.SetReady()
	follower := NewHosted("C", r.rep, r.f, false, false)
	follower.SetReady()
	for _, h := range []*Hosted{ready, follower, NewHosted("B", r.rep, r.f, true, false)} {
		s.Add(h)
	}
	if got := s.Serving(); len(got) != 1 || got[0] != ready {
		var names []string
		for _, h := range got {
			names = append(names, h.Name())
		}
		t.Fatalf("serving %v, want only A", names)
	}
}

// muxHost opens a set's replicas on a raft port of their own.
type muxHost struct {
	ReplicaHost
	mux *mux.Mux
}

func (h muxHost) Layer(group string) (raft.StreamLayer, error) { return h.mux.Layer(group) }
func (h muxHost) CommitObserver(string) func(fsm.CommitStats)  { return nil }
func (h muxHost) ReplicaConfig(group, dir string, stream raft.StreamLayer) ReplicaConfig {
	return ReplicaConfig{Group: group, NodeID: "n1", Dir: dir, Stream: stream,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		SnapshotThreshold: 64, SnapshotInterval: time.Second, TrailingLogs: 16, MaxAppendEntries: 64}
}

// TestOpenStandalone: a new standalone zone bootstraps its group with the
// node its one voter and is set up at once; reopened, it reports its
// state and bootstraps nothing.
func TestOpenStandalone(t *testing.T) {
	dir := t.TempDir()
	for _, wantState := range []bool{false, true} {
		m, err := mux.Listen("127.0.0.1:0", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := NewReplicaSet(muxHost{mux: m}, SetConfig{NodeID: "n1", Zone: "A", DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
		hadState, err := s.OpenStandalone(true)
		if err != nil || hadState != wantState {
			t.Fatalf("open (state before: %v): had state %v, %v", wantState, hadState, err)
		}
		h := s.Own()
		if h == nil || !h.Ready() || !h.Voter() {
			t.Fatalf("own zone %v: not a set up voter", h)
		}
		wait(t, "the one voter leads", h.Replica().IsLeader)
		s.CloseAll()
		m.Close()
	}
}
