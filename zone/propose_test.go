package zone

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
)

func bootstrapOne(t *testing.T) *testReplica {
	t.Helper()
	r := openTestReplica(t, "zone/p", "n1", filepath.Join(t.TempDir(), "n1"))
	t.Cleanup(r.close)
	if err := r.rep.Bootstrap([]raft.Server{{ID: "n1", Address: r.rep.Addr()}}); err != nil {
		t.Fatal(err)
	}
	wait(t, "leader", r.rep.IsLeader)
	return r
}

// TestApplyCommandsSharesEntries: concurrent callers' payments share log
// entries, each caller gets its own commands' results (in its order, with
// the index of the entry that holds them), and the state is what one entry
// per call would have made.
func TestApplyCommandsSharesEntries(t *testing.T) {
	r := bootstrapOne(t)
	res, _, err := r.rep.ApplyCommands([]fsm.Command{{Type: fsm.CmdPutAccount, User: 1, Time: 1, CreditLimit: 1_000_000}}, time.Second)
	if err != nil || res[0].Code != fsm.OK {
		t.Fatalf("put account: %+v %v", res, err)
	}
	const callers, each = 64, 20
	var wg sync.WaitGroup
	indexes := make([][]uint64, callers)
	errs := make(chan error, callers)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				cmds := []fsm.Command{{Type: fsm.CmdPay, User: 1, Time: 2, Key: fmt.Sprintf("c%d-%d", c, i), Amount: int64(c + 1), Merchant: "m"}}
				if i%5 == 0 { // some calls carry two commands, the second a replay of the first
					cmds = append(cmds, cmds[0])
				}
				res, index, err := r.rep.ApplyCommands(cmds, 5*time.Second)
				if err != nil {
					errs <- err
					return
				}
				if len(res) != len(cmds) || res[0].Code != fsm.OK || res[0].Replay || res[0].Payment.Key != cmds[0].Key ||
					res[0].Payment.Amount != cmds[0].Amount || res[0].Payment.Index != index {
					errs <- fmt.Errorf("call %d/%d (index %d) got %+v", c, i, index, res)
					return
				}
				if len(cmds) == 2 && (!res[1].Replay || res[1].Payment.Key != cmds[0].Key) {
					errs <- fmt.Errorf("call %d/%d: second command %+v, want the first's replay", c, i, res[1])
					return
				}
				indexes[c] = append(indexes[c], index)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	shared := map[uint64]int{}
	for _, ix := range indexes {
		for j, i := range ix {
			shared[i]++
			if j > 0 && i <= ix[j-1] {
				t.Fatalf("one caller's calls went into entries out of order: %v", ix)
			}
		}
	}
	if len(shared) >= callers*each {
		t.Fatalf("%d calls took %d entries: none shared one", callers*each, len(shared))
	}
	t.Logf("%d calls in %d entries", callers*each, len(shared))
	a, err := r.f.Account(1)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	for c := 0; c < callers; c++ {
		want += int64(each * (c + 1))
	}
	if a.Pending+a.Used != want {
		t.Fatalf("account holds %d, the calls paid %d", a.Pending+a.Used, want)
	}
}

// TestApplyCommandsKeepsBoundaryCommandsAlone: a command whose entry index
// marks a boundary (here posting) never shares its entry.
func TestApplyCommandsKeepsBoundaryCommandsAlone(t *testing.T) {
	r := bootstrapOne(t)
	if _, _, err := r.rep.ApplyCommands([]fsm.Command{{Type: fsm.CmdPutAccount, User: 1, Time: 1, CreditLimit: 1_000_000}}, time.Second); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var postIndex uint64
	var payIndexes sync.Map
	for c := 0; c < 32; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, index, err := r.rep.ApplyCommands([]fsm.Command{{Type: fsm.CmdPay, User: 1, Time: 2, Key: fmt.Sprint("k", c), Amount: 1, Merchant: "m"}}, 5*time.Second)
			if err != nil {
				t.Error(err)
			}
			payIndexes.Store(index, true)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, index, err := r.rep.ApplyCommands([]fsm.Command{{Type: fsm.CmdPost, Time: 3}}, 5*time.Second)
		if err != nil || res[0].Code != fsm.OK {
			t.Errorf("post: %+v %v", res, err)
		}
		postIndex = index
	}()
	wg.Wait()
	if _, ok := payIndexes.Load(postIndex); ok {
		t.Fatalf("the post shares entry %d with a payment", postIndex)
	}
}

// TestApplyCommandsAfterShutdown: a call after the replica shut down is
// answered not applied (nothing reached the log), never left waiting.
func TestApplyCommandsAfterShutdown(t *testing.T) {
	r := bootstrapOne(t)
	r.rep.Shutdown()
	done := make(chan error, 1)
	go func() {
		_, _, err := r.rep.ApplyCommands([]fsm.Command{{Type: fsm.CmdPay, User: 1, Time: 2, Key: "k", Amount: 1, Merchant: "m"}}, time.Second)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotApplied) {
			t.Fatalf("after shutdown: %v, want not applied", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call after shutdown was left waiting")
	}
}

// TestReplicaStatesReportTheDurableIndex: how far a zone replica has
// applied, as the nodes report it to each other (guard clears rest on it,
// a failover seed is chosen by it), is what its state file holds, which a
// restart does not take back; never entries only in the open transaction.
func TestReplicaStatesReportTheDurableIndex(t *testing.T) {
	r := bootstrapOne(t)
	// A policy that commits only on request, so the open transaction
	// stays open for the check.
	f, err := fsm.OpenWith(filepath.Join(t.TempDir(), "held.db"), nil, fsm.CommitPolicy{Entries: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raftFSM := r.f // raft keeps applying into it; r.close closes f
	t.Cleanup(func() { raftFSM.Close() })
	r.f = f
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: fsm.Encode(nil, fsm.Command{Type: fsm.CmdPutAccount, User: 1, Time: 1, CreditLimit: 10})})
	s := NewReplicaSet(nil, SetConfig{NodeID: "n1"})
	s.Add(NewHosted("p", r.rep, r.f, true, false))
	st := s.States("127.0.0.1:1")
	if len(st) != 1 || st[0].AppliedIndex != 0 || f.AppliedIndex() != 1 {
		t.Fatalf("states %+v with applied %d: want applied_index 0, the state file's", st, f.AppliedIndex())
	}
	if _, _, err := f.Digest(); err != nil { // a committed read commits
		t.Fatal(err)
	}
	if st := s.States("127.0.0.1:1"); st[0].AppliedIndex != 1 {
		t.Fatalf("after the commit: %+v, want applied_index 1", st)
	}
}
