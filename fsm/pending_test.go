package fsm

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// crashCopy copies the state file as a crash would leave it: what bbolt
// has committed (an open write transaction writes nothing to the file
// before its commit). It returns the copy's path.
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "crashed.db")
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// committedIndex is the applied index the state file at path holds.
func committedIndex(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := OpenWith(crashCopy(t, path), nil, CommitEveryBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.AppliedIndex()
}

func commandLog(seed uint64, n int) []*raft.Log {
	cmds := randomCommands(seed, n)
	var logs []*raft.Log
	for i := 0; i < len(cmds); i += 2 {
		logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Type: raft.LogCommand, Data: Encode(nil, cmds[i:min(i+2, len(cmds))]...)})
	}
	return logs
}

// TestCrashReplaysFromTheCommittedIndex crashes a replica whose state file
// lags what it applied (and answered), at many points, and restarts it
// from the crashed file: replaying the whole log (as Raft does after a
// restart) must give the same answers to the entries the file lacked and
// end in the same state as the replica that never crashed.
func TestCrashReplaysFromTheCommittedIndex(t *testing.T) {
	logs := commandLog(11, 1200)
	for _, policy := range []CommitPolicy{{Entries: 25}, {Entries: 64}, {Entries: 1 << 30}} {
		dir := t.TempDir()
		live, err := OpenWith(filepath.Join(dir, "state.db"), nil, policy)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(policy.Entries), 3))
		answers := make([]any, len(logs))
		lagged := 0
		for i := 0; i < len(logs); {
			n := 1 + rng.IntN(9)
			batch := logs[i:min(i+n, len(logs))]
			copy(answers[i:], live.ApplyBatch(batch))
			i += len(batch)
			if rng.IntN(20) != 0 {
				continue
			}
			// Crash here: the file holds what was committed, the log all.
			crashed := crashCopy(t, live.path)
			f, err := OpenWith(crashed, nil, policy)
			if err != nil {
				t.Fatal(err)
			}
			durable := f.AppliedIndex()
			if durable != live.DurableIndex() {
				t.Fatalf("policy %+v: the crashed file holds index %d, the live replica said %d was durable", policy, durable, live.DurableIndex())
			}
			if durable > live.AppliedIndex() {
				t.Fatalf("policy %+v: state file at %d leads the applied index %d", policy, durable, live.AppliedIndex())
			}
			if durable < live.AppliedIndex() {
				lagged++
			}
			replayed := f.ApplyBatch(logs[:i])
			for j := range replayed {
				if uint64(j+1) <= durable {
					if replayed[j] != nil {
						t.Fatalf("policy %+v: entry %d at or below the committed index %d applied again", policy, j+1, durable)
					}
					continue
				}
				if !reflect.DeepEqual(replayed[j], answers[j]) {
					t.Fatalf("policy %+v: entry %d answered %+v live and %+v after the crash", policy, j+1, answers[j], replayed[j])
				}
			}
			ia, da, err := live.Digest()
			if err != nil {
				t.Fatal(err)
			}
			ib, db, err := f.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if ia != ib || da != db {
				t.Fatalf("policy %+v: after a crash at %d (file at %d): index %d vs %d, digests differ: %v", policy, i, durable, ia, ib, da != db)
			}
			checkMoney(t, f)
			f.Close()
		}
		live.Close()
		if policy.Entries > 1 && lagged == 0 {
			t.Fatalf("policy %+v: no crash point found the state file behind what was applied; the test tested nothing", policy)
		}
	}
}

// TestReadsAndSnapshotsSeeEveryAppliedEntry: with nothing committed by the
// policy, a read, a snapshot and Close still see (and commit) every
// applied entry.
func TestReadsAndSnapshotsSeeEveryAppliedEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := OpenWith(path, nil, CommitPolicy{Entries: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: Encode(nil, putAcc(1, 10_000))})
	f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: Encode(nil, pay(1, "a", 100))})
	if got := committedIndex(t, path); got != 0 {
		t.Fatalf("file committed at %d before any read; the policy says never", got)
	}
	// A point read sees the open transaction and commits nothing.
	a, err := f.Account(1)
	if err != nil || a.Used+a.Pending != 100 {
		t.Fatalf("read after apply: %+v, %v", a, err)
	}
	if p, err := f.Payment(1, "a"); err != nil || p.Amount != 100 {
		t.Fatalf("payment read after apply: %+v, %v", p, err)
	}
	if ok, _ := f.Owns(1); !ok {
		t.Fatal("a standalone zone owns every user")
	}
	if got := committedIndex(t, path); got != 0 {
		t.Fatalf("file at %d after point reads, want 0: they need no commit", got)
	}
	if f.AppliedIndex() != 2 || f.DurableIndex() != 0 {
		t.Fatalf("applied %d, durable %d; want 2 and 0 (nothing committed)", f.AppliedIndex(), f.DurableIndex())
	}
	// A read of the committed state (a scan, a digest) commits first.
	if idx, _, err := f.Digest(); err != nil || idx != 2 {
		t.Fatalf("digest at %d, %v; want 2", idx, err)
	}
	if got := committedIndex(t, path); got != 2 || f.DurableIndex() != 2 {
		t.Fatalf("file at %d after a digest, durable index %d; want 2", got, f.DurableIndex())
	}

	f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: Encode(nil, pay(1, "b", 5))})
	sink := snapshotBytes(t, f)
	g := setup(t)
	if err := g.f.Restore(nopCloser{bytesReader(sink)}); err != nil {
		t.Fatal(err)
	}
	if g.f.AppliedIndex() != 3 {
		t.Fatalf("snapshot holds index %d, want 3", g.f.AppliedIndex())
	}

	f.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: Encode(nil, pay(1, "c", 5))})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := committedIndex(t, path); got != 4 {
		t.Fatalf("file at %d after Close, want 4", got)
	}
}

// TestCommitterCommitsOnItsInterval: applied entries reach the file
// within the policy's interval with no read to ask for them.
func TestCommitterCommitsOnItsInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var commits int
	f, err := OpenWith(path, nil, CommitPolicy{Entries: 1 << 30, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan struct{}, 100)
	f.ObserveCommits(func(CommitStats) { done <- struct{}{} })
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: Encode(nil, putAcc(1, 10_000))})
	select {
	case <-done:
		commits++
	case <-time.After(5 * time.Second):
		t.Fatal("no commit within 5 s of an apply; the interval is 20 ms")
	}
	if got := committedIndex(t, path); got != 1 {
		t.Fatalf("file at %d after the committer's commit, want 1", got)
	}
}

// TestRestoreDropsTheOpenTransaction: a snapshot installed over entries
// applied but not committed replaces them; nothing of them reaches the
// file afterwards.
func TestRestoreDropsTheOpenTransaction(t *testing.T) {
	src := setup(t)
	src.one(putAcc(7, 1000))
	sink := snapshotBytes(t, src.f)

	path := filepath.Join(t.TempDir(), "state.db")
	f, err := OpenWith(path, nil, CommitPolicy{Entries: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: Encode(nil, putAcc(1, 10_000))})
	if err := f.Restore(nopCloser{bytesReader(sink)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Account(1); err == nil {
		t.Fatal("an entry applied before the restore survived it")
	}
	if _, err := f.Account(7); err != nil {
		t.Fatalf("the snapshot's account: %v", err)
	}
}

// TestLoopReadsDoNotForceACommit: the reads a zone leader's loops make
// several times a second (the poster's unposted payments, the outbox's
// undelivered notifications and their count) answer from the applied
// state without committing the state file; a read of the committed state
// (DueUsers) does commit it, which is how the test sees a commit.
func TestLoopReadsDoNotForceACommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := OpenWith(path, nil, CommitPolicy{Entries: 1 << 30, Interval: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := &harness{t: t, f: f, path: path}
	h.one(putAcc(1, 10_000))
	if r := h.one(pay(1, "k1", 500)); r.Code != OK {
		t.Fatalf("pay: %+v", r)
	}
	refs, since, err := f.UnpostedSince(10)
	if err != nil || len(refs) != 1 || since != t0 {
		t.Fatalf("unposted %v since %d (%v), want k1 since %d", refs, since, err, t0)
	}
	if _, err := f.Undelivered(10); err != nil {
		t.Fatal(err)
	}
	_ = f.UndeliveredCount()
	if d := f.DurableIndex(); d != 0 {
		t.Fatalf("the loops' reads committed the state file up to %d", d)
	}
	if _, err := f.DueUsers(0, 0); err != nil {
		t.Fatal(err)
	}
	if d := f.DurableIndex(); d != h.index {
		t.Fatalf("a committed read left the state file at %d, applied %d", d, h.index)
	}
}

// TestAccountsPackedInOrder: accounts created in user order fill their
// pages (packedFill), instead of bbolt's default of splitting pages in
// half, which left the state file of 1,000,000 accounts at 380 MB instead
// of 210 MB.
func TestAccountsPackedInOrder(t *testing.T) {
	h := setup(t)
	const n = 20_000
	for u := uint64(1); u <= n; u += 500 {
		var cmds []Command
		for v := u; v < u+500; v++ {
			cmds = append(cmds, putAcc(v, 10_000))
		}
		h.do(cmds...)
	}
	var st bolt.BucketStats
	if err := h.f.view(func(tx *bolt.Tx) error { st = tx.Bucket(bucketAccounts).Stats(); return nil }); err != nil {
		t.Fatal(err)
	}
	if st.KeyN != n {
		t.Fatalf("%d accounts stored, want %d", st.KeyN, n)
	}
	fill := float64(st.LeafInuse) / float64(st.LeafAlloc)
	if fill < 0.8 {
		t.Fatalf("account pages %.0f%% full (%d pages for %d accounts), want at least 80%%", 100*fill, st.LeafPageN, n)
	}
}

// TestViewFrontFallsBackToACommittedRead: a front read that passes over
// more than frontScan keys stops holding apply and is done again on the
// committed state; a short one reads the applied state only.
func TestViewFrontFallsBackToACommittedRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := OpenWith(path, nil, CommitPolicy{Entries: 1 << 30, Interval: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := &harness{t: t, f: f, path: path}
	h.one(putAcc(1, 10_000))
	read := func(keys int) (budgets []int) {
		t.Helper()
		err := f.viewFront(func(tx *bolt.Tx, budget int) (bool, error) {
			budgets = append(budgets, budget)
			for i := 0; i < keys; i++ {
				if budget--; budget == -1 {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return budgets
	}
	if b := read(frontScan); len(b) != 1 || f.DurableIndex() != 0 || f.FrontFallbacks() != 0 {
		t.Fatalf("a read of %d keys ran with budgets %v and left the state file at %d (%d fallbacks counted)", frontScan, b, f.DurableIndex(), f.FrontFallbacks())
	}
	if b := read(frontScan + 1); len(b) != 2 || b[1] != -1 || f.DurableIndex() != h.index || f.FrontFallbacks() != 1 {
		t.Fatalf("a read of %d keys ran with budgets %v and left the state file at %d of %d (%d fallbacks counted, want 1)", frontScan+1, b, f.DurableIndex(), h.index, f.FrontFallbacks())
	}
}
