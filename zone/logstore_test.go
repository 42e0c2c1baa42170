package zone

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rzonedb/rzone/fsm"
)

// The keys hashicorp/raft keeps in the stable store (raft.go, not
// exported).
var (
	keyLastVoteTerm = []byte("LastVoteTerm")
	keyLastVoteCand = []byte("LastVoteCand")
)

func TestParseLogStoreKind(t *testing.T) {
	for in, want := range map[string]LogStoreKind{"": LogStoreWAL, "wal": LogStoreWAL, "bolt": LogStoreBolt} {
		if got, err := ParseLogStoreKind(in); err != nil || got != want {
			t.Errorf("ParseLogStoreKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"boltdb", "WAL", "raft.db"} {
		if _, err := ParseLogStoreKind(in); err == nil {
			t.Errorf("ParseLogStoreKind(%q) took it", in)
		}
	}
	dir := t.TempDir()
	if _, _, err := openRaftStore(dir, "rocks", nil); err == nil {
		t.Error("a new folder opened with an unknown kind")
	}
	os.WriteFile(filepath.Join(dir, boltFile), nil, 0o600)
	os.Mkdir(filepath.Join(dir, walDir), 0o700)
	if _, _, err := StoreIn(dir); err == nil {
		t.Error("a folder with raft.db and wal/ has a kind")
	}
}

// stableState is what a replica's stable store says of its term and vote,
// and its log's last index.
type stableState struct {
	term, voteTerm uint64
	voteCand       string
	last           uint64
}

func readStable(t *testing.T, dir string) (stableState, LogStoreKind) {
	t.Helper()
	s, kind, err := openRaftStore(dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var st stableState
	st.term, _ = s.GetUint64(keyCurrentTerm)
	st.voteTerm, _ = s.GetUint64(keyLastVoteTerm)
	cand, _ := s.Get(keyLastVoteCand)
	st.voteCand = string(cand)
	st.last, _ = s.LastIndex()
	return st, kind
}

// TestNewFolderGetsWALAndKeepsItAcrossRestart: a replica in a new folder
// keeps its log in wal/ (no raft.db), and a restart in the same process
// (the store's files are closed and unlocked) finds its log, term and vote.
func TestNewFolderGetsWALAndKeepsItAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a1")
	a1 := openTestReplica(t, "zone/A", "a1", dir)
	addr := a1.mux.Addr().String()
	if err := a1.rep.Bootstrap([]raft.Server{{ID: "a1", Address: raft.ServerAddress(addr)}}); err != nil {
		t.Fatal(err)
	}
	wait(t, "a leader", a1.rep.IsLeader)
	if _, err := a1.rep.Apply(fsm.Encode(nil, fsm.Command{Type: fsm.CmdPutAccount, User: 7, Time: 1, CreditLimit: 1_000_000}), time.Second); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k1", "k2", "k3"} {
		if _, err := a1.rep.Apply(pay(7, k, 10), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	term := a1.rep.Raft().CurrentTerm()
	last := a1.rep.Raft().LastIndex()
	a1.close()

	if _, err := os.Stat(filepath.Join(dir, boltFile)); !os.IsNotExist(err) {
		t.Fatalf("a new folder has %s: %v", boltFile, err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	if _, err := os.Stat(filepath.Join(dir, walDir, "wal-meta.db")); err != nil || len(segs) == 0 {
		t.Fatalf("no raft-wal files in %s: meta %v, segments %v", filepath.Join(dir, walDir), err, segs)
	}
	st, kind := readStable(t, dir)
	// Raft records the candidate voted for by address.
	want := stableState{term: term, voteTerm: term, voteCand: addr, last: last}
	if kind != LogStoreWAL || st != want {
		t.Fatalf("after close: %s %+v, want wal %+v", kind, st, want)
	}

	// The state file is gone: everything comes back from the log.
	os.Remove(filepath.Join(dir, "state.db"))
	a1 = openTestReplicaAt(t, "zone/A", "a1", dir, addr)
	defer a1.close()
	if !a1.rep.HasState() {
		t.Fatal("reopened replica has no state")
	}
	wait(t, "the reopened replica to lead", a1.rep.IsLeader)
	if got := a1.rep.Raft().CurrentTerm(); got <= term {
		t.Fatalf("term %d after restart, want above %d", got, term)
	}
	wait(t, "the log to be applied", func() bool { return a1.f.AppliedIndex() >= last })
	if a, _ := a1.f.Account(7); a.Accepted != 30 {
		t.Fatalf("account after restart: %+v, want 30 accepted", a)
	}
}

// TestSecondOpenWaitsForTheFirst: a folder's store opens once at a time; a
// second open waits until the first closes, for either kind.
func TestSecondOpenWaitsForTheFirst(t *testing.T) {
	for _, kind := range []LogStoreKind{LogStoreWAL, LogStoreBolt} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			first, got, err := openRaftStore(dir, kind, nil)
			if err != nil || got != kind {
				t.Fatalf("open: %s, %v", got, err)
			}
			opened := make(chan raftStore, 1)
			go func() {
				s, _, err := openRaftStore(dir, "", nil)
				if err != nil {
					t.Error(err)
				}
				opened <- s
			}()
			select {
			case <-opened:
				t.Fatal("a second open did not wait for the first")
			case <-time.After(300 * time.Millisecond):
			}
			first.Close()
			select {
			case s := <-opened:
				if s != nil {
					s.Close()
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the second open still waits after the first closed")
			}
		})
	}
}

// TestFolderOfBoltStoreKeepsIt opens a zone replica's folder written by
// rzone before raft-wal (testdata/boltfolder/raft.db: a standalone zone z1
// of one node, n1, that took account 42 with a limit of 5000.00 and
// payments of 19.99 and 5.01): the replica keeps raft-boltdb, whatever it
// is asked for new folders, with its log and term.
func TestFolderOfBoltStoreKeepsIt(t *testing.T) {
	dir := t.TempDir()
	if err := copyFile(filepath.Join("testdata", "boltfolder", boltFile), filepath.Join(dir, boltFile)); err != nil {
		t.Fatal(err)
	}
	// What the old code reads there.
	old, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, boltFile)})
	if err != nil {
		t.Fatal(err)
	}
	term, _ := old.GetUint64(keyCurrentTerm)
	last, _ := old.LastIndex()
	old.Close()
	if term == 0 || last < 5 {
		t.Fatalf("fixture: term %d, last index %d", term, last)
	}

	n1 := openTestReplicaWith(t, "zone/z1", "n1", dir, "127.0.0.1:0", func(c *ReplicaConfig) {
		c.LogStore = LogStoreWAL
		c.Metrics = NewMetrics()
	})
	if _, err := os.Stat(filepath.Join(dir, walDir)); !os.IsNotExist(err) {
		n1.close()
		t.Fatalf("a raft.db folder got %s/: %v", walDir, err)
	}
	if !n1.rep.HasState() {
		n1.close()
		t.Fatal("the bolt folder has no state")
	}
	// The fixture's only voter is n1 at another address: n1 elects itself.
	t.Cleanup(func() {
		if n1 != nil {
			n1.close()
		}
	})
	wait(t, "n1 to lead", n1.rep.IsLeader)
	if got := n1.rep.Raft().CurrentTerm(); got <= term {
		t.Fatalf("term %d, want above the folder's %d", got, term)
	}
	// The old log may end in entries the state machine never sees (a
	// read's barrier): wait for an entry after it.
	_, index, err := n1.rep.ApplyIndex(pay(42, "after", 100), time.Second)
	if err != nil || index <= last {
		t.Fatalf("new entry at %d (old log ends at %d): %v", index, last, err)
	}
	wait(t, "the old log to be applied", func() bool { return n1.f.AppliedIndex() >= index })
	a, err := n1.f.Account(42)
	if err != nil || a.CreditLimit != 500_000 || a.Accepted != 2500+100 {
		t.Fatalf("account 42 from the old log: %+v, %v", a, err)
	}
	n1.close()
	n1 = nil
	st, kind := readStable(t, dir)
	if kind != LogStoreBolt || st.last < index || st.term <= term || st.voteTerm != st.term {
		t.Fatalf("after the new code wrote: %s %+v (was term %d, last %d)", kind, st, term, last)
	}
}

// TestBoltForNewFolder: LogStoreBolt gives a new folder raft.db, as before
// raft-wal.
func TestBoltForNewFolder(t *testing.T) {
	dir := t.TempDir()
	r := openTestReplicaWith(t, "zone/A", "a1", dir, "127.0.0.1:0", func(c *ReplicaConfig) { c.LogStore = LogStoreBolt })
	if err := r.rep.Bootstrap([]raft.Server{{ID: "a1", Address: raft.ServerAddress(r.mux.Addr().String())}}); err != nil {
		t.Fatal(err)
	}
	wait(t, "a leader", r.rep.IsLeader)
	r.close()
	if _, err := os.Stat(filepath.Join(dir, walDir)); !os.IsNotExist(err) {
		t.Fatalf("bolt folder has %s/: %v", walDir, err)
	}
	if st, kind := readStable(t, dir); kind != LogStoreBolt || st.term == 0 || st.last == 0 {
		t.Fatalf("bolt folder: %s %+v", kind, st)
	}
}

// TestWALFollowerCatchesUpBySnapshot: a follower whose log (raft-wal, timed
// by Metrics) ends before the leader's first entry installs a snapshot and
// then takes the entries after it. raft-wal takes only contiguous entries,
// so Raft must empty its log at the install (raft.MonotonicLogStore), through
// the metrics wrapper and the log cache.
func TestWALFollowerCatchesUpBySnapshot(t *testing.T) {
	dir := t.TempDir()
	timed := func(c *ReplicaConfig) { c.Metrics = NewMetrics() }
	// The leader's log is raft-boltdb: raft-wal still serves entries a
	// head truncation left in its open segment, and the leader would send
	// them rather than a snapshot.
	leader := openTestReplicaWith(t, "zone/A", "a1", filepath.Join(dir, "a1"), "127.0.0.1:0", func(c *ReplicaConfig) {
		timed(c)
		c.LogStore = LogStoreBolt
	})
	defer leader.close()
	if err := leader.rep.Bootstrap([]raft.Server{{ID: "a1", Address: raft.ServerAddress(leader.mux.Addr().String())}}); err != nil {
		t.Fatal(err)
	}
	wait(t, "a leader", leader.rep.IsLeader)
	follower := openTestReplicaWith(t, "zone/A", "b1", filepath.Join(dir, "b1"), "127.0.0.1:0", timed)
	faddr := follower.mux.Addr().String()
	if err := leader.rep.AddServer("b1", raft.ServerAddress(faddr), false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.rep.Apply(fsm.Encode(nil, fsm.Command{Type: fsm.CmdPutAccount, User: 7, Time: 1, CreditLimit: 1_000_000}), time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := leader.rep.Apply(pay(7, fmt.Sprint("a", i), 1), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, "the follower to apply", func() bool { return follower.f.AppliedIndex() >= leader.f.AppliedIndex() })
	follower.close()
	followerLast, _ := readStable(t, filepath.Join(dir, "b1"))

	// More entries than the leader's log cache holds (1024): it can only
	// send the follower a snapshot.
	var futures []raft.ApplyFuture
	for i := range 1200 {
		futures = append(futures, leader.rep.Raft().Apply(pay(7, fmt.Sprint("b", i), 1), 5*time.Second))
	}
	for _, f := range futures {
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, "the leader to compact past the follower's log", func() bool {
		first, _ := leader.rep.logs.FirstIndex()
		return first > followerLast.last+1
	})

	follower = openTestReplicaWith(t, "zone/A", "b1", filepath.Join(dir, "b1"), faddr, timed)
	defer follower.close()
	wait(t, "the follower to catch up", func() bool { return follower.f.AppliedIndex() >= leader.f.AppliedIndex() })
	if _, err := leader.rep.Apply(pay(7, "after", 1), time.Second); err != nil {
		t.Fatal(err)
	}
	wait(t, "the follower to take an entry after the snapshot", func() bool { return follower.f.AppliedIndex() >= leader.f.AppliedIndex() })
	if a, _ := follower.f.Account(7); a.Accepted != 1231 {
		t.Fatalf("follower's account: %+v, want 1231 accepted", a)
	}
}

// TestSeedReplicaWritesTheKindAsked: a seeded folder gets the log store
// asked for, with the term in its stable store; a seeded folder is not
// seeded twice.
func TestSeedReplicaWritesTheKindAsked(t *testing.T) {
	servers := []raft.Server{{ID: "a1", Address: "127.0.0.1:1"}}
	for _, kind := range []LogStoreKind{"", LogStoreWAL, LogStoreBolt} {
		dir := t.TempDir()
		body := "snapshot body"
		if err := SeedReplica(dir, kind, 40, 3, servers, int64(len(body)), strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		want, _ := ParseLogStoreKind(string(kind))
		if st, got := readStable(t, dir); got != want || st.term != 3 || st.last != 0 {
			t.Fatalf("seeded %q: %s %+v", kind, got, st)
		}
		if err := SeedReplica(dir, kind, 40, 3, servers, int64(len(body)), strings.NewReader(body)); !errors.Is(err, ErrHasState) {
			t.Fatalf("second seed of %q: %v", kind, err)
		}
	}
	if err := SeedReplica(t.TempDir(), "rocks", 40, 3, servers, 1, strings.NewReader("x")); err == nil {
		t.Fatal("seeded an unknown kind")
	}
}

// TestLogStoreTimedForEitherKind: rzone_raft_log_store_duration_seconds
// counts the appends of a group on raft-wal and of one on raft-boltdb.
func TestLogStoreTimedForEitherKind(t *testing.T) {
	for _, kind := range []LogStoreKind{LogStoreWAL, LogStoreBolt} {
		t.Run(string(kind), func(t *testing.T) {
			m := NewMetrics()
			r := openTestReplicaWith(t, "zone/A", "a1", t.TempDir(), "127.0.0.1:0", func(c *ReplicaConfig) {
				c.LogStore, c.Metrics = kind, m
			})
			defer r.close()
			if err := r.rep.Bootstrap([]raft.Server{{ID: "a1", Address: raft.ServerAddress(r.mux.Addr().String())}}); err != nil {
				t.Fatal(err)
			}
			wait(t, "a leader", r.rep.IsLeader)
			before := histogramCount(t, m, "zone/A")
			for i := range 5 {
				if _, err := r.rep.Apply(pay(7, fmt.Sprint(i), 1), time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if got := histogramCount(t, m, "zone/A"); got < before+5 {
				t.Fatalf("log store appends timed: %d, then %d after 5 entries", before, got)
			}
		})
	}
}

func histogramCount(t *testing.T, m *Metrics, group string) uint64 {
	t.Helper()
	var pb dto.Metric
	if err := m.logStore.WithLabelValues(group).(prometheus.Metric).Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetHistogram().GetSampleCount()
}

// TestLogTailTruncatedThenReopened: a follower that clears a conflicting
// suffix of its log (DeleteRange at the tail, as Raft does after an
// election) and then restarts, cleanly or killed, reads its whole log
// again and appends after the cut. raft-wal v0.4.0 marked the cut segment
// sealed without writing its index, and the node panicked on every start
// after ("sealed segment has no index block"): found by the zones scenario
// (a partition of a zone's leader, then kill -9 of a whole zone).
func TestLogTailTruncatedThenReopened(t *testing.T) {
	for _, kind := range []LogStoreKind{LogStoreWAL, LogStoreBolt} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			s, _, err := openRaftStore(dir, kind, nil)
			if err != nil {
				t.Fatal(err)
			}
			var logs []*raft.Log
			for i := uint64(1); i <= 20; i++ {
				logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("entry %d", i))})
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteRange(18, 20); err != nil { // the conflicting suffix
				t.Fatal(err)
			}
			if err := s.StoreLogs([]*raft.Log{{Index: 18, Term: 2, Type: raft.LogCommand, Data: []byte("entry 18 of term 2")}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, _, err = openRaftStore(dir, kind, nil)
			if err != nil {
				t.Fatalf("reopen after a tail truncation: %v", err)
			}
			defer s.Close()
			last, err := s.LastIndex()
			if err != nil || last != 18 {
				t.Fatalf("last index %d (%v), want 18", last, err)
			}
			for i := uint64(1); i <= 18; i++ {
				var l raft.Log
				if err := s.GetLog(i, &l); err != nil {
					t.Fatalf("entry %d after the reopen: %v", i, err)
				}
				if want := uint64(1); i == 18 {
					want = 2
					if l.Term != want {
						t.Fatalf("entry 18 of term %d, want %d", l.Term, want)
					}
				}
			}
			if err := s.StoreLogs([]*raft.Log{{Index: 19, Term: 2, Type: raft.LogCommand}}); err != nil {
				t.Fatalf("append after the reopen: %v", err)
			}
		})
	}
}
