package zone

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/mux"
)

// slowSM is a state machine behind a slow disk: committed batches queue
// for it, which is where hashicorp/raft leaves futures unanswered when it
// shuts down.
type slowSM struct{ *fsm.FSM }

func (s slowSM) ApplyBatch(logs []*raft.Log) []any {
	time.Sleep(3 * time.Millisecond)
	return s.FSM.ApplyBatch(logs)
}

// openSlowReplica is a one-voter group over slowSM, leading.
func openSlowReplica(t *testing.T) (rep *Replica, closeAll func()) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "r")
	m, err := mux.Listen("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := m.Layer("zone/A")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := fsm.Open(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = OpenReplica(ReplicaConfig{Group: "zone/A", NodeID: "n1", Dir: dir, Stream: layer, SelfRestoring: true,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, TrailingLogs: 16, MaxAppendEntries: 64}, slowSM{f})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Bootstrap([]raft.Server{{ID: "n1", Address: rep.Addr()}}); err != nil {
		t.Fatal(err)
	}
	wait(t, "the one voter leads", rep.IsLeader)
	return rep, func() { f.Close(); m.Close() }
}

// TestCallsReturnWhenTheReplicaShutsDown: writes (shared entries and
// entries of their own) and linearizable reads in flight when a replica
// shuts down while its node runs on (a failover store retired, an async
// follower promoted) return, with a typed error, instead of waiting for
// ever on a future hashicorp/raft left unanswered (an entry committed but
// still queued for the state machine, a leadership check still queued).
// Each round stops a loaded replica; a call still out 3 s later fails it.
func TestCallsReturnWhenTheReplicaShutsDown(t *testing.T) {
	typed := func(err error) bool {
		return err == nil || errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrNotApplied) || errors.Is(err, ErrNotLeader)
	}
	for round := 0; round < 5; round++ {
		rep, closeAll := openSlowReplica(t)
		var mu sync.Mutex
		var untyped []string
		note := func(what string, err error) {
			if !typed(err) {
				mu.Lock()
				untyped = append(untyped, fmt.Sprintf("%s: %v", what, err))
				mu.Unlock()
			}
		}
		var stops []func() bool
		loop := func(call func(w int)) { stops = append(stops, callers(16, call)) }
		put := func(w int) fsm.Command {
			return fsm.Command{Type: fsm.CmdPutAccount, User: uint64(w + 1), Time: 1, CreditLimit: 100}
		}
		loop(func(w int) {
			_, _, err := rep.ApplyCommands([]fsm.Command{put(w)}, 100*time.Millisecond)
			note("shared entry", err)
		})
		loop(func(w int) {
			_, err := rep.Apply(fsm.Encode(nil, put(w)), 100*time.Millisecond)
			note("entry of its own", err)
		})
		loop(func(w int) {
			// Reads with no deadline of their own (as a handler's request
			// context has none): the read timeout and Raft going down
			// bound their wait for the slow state machine.
			if w%2 == 0 {
				rep.barrierTerm.Store(0) // a barrier each read, queued behind the writes
			}
			err := rep.Linearizable(context.Background(), 100*time.Millisecond)
			if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNotApplied) || errors.Is(err, ErrNotLeader)) {
				err = nil
			}
			note("linearizable read", err)
		})
		time.Sleep(200 * time.Millisecond)
		rep.Shutdown()
		closeAll()
		for _, stop := range stops {
			if !stop() {
				t.Fatalf("round %d: a call with a 100 ms timeout has not returned 3 s after the replica shut down", round)
			}
		}
		for _, u := range untyped {
			t.Errorf("round %d: %s (want ErrUnknownOutcome, ErrNotApplied or ErrNotLeader)", round, u)
		}
	}
}

// TestAwaitTakesAnAnswerGivenBeforeShutdown: a future Raft answered is
// taken as answered even when the wait sees Raft down first.
func TestAwaitTakesAnAnswerGivenBeforeShutdown(t *testing.T) {
	r := &Replica{}
	r.down.close()
	if err := r.await(context.Background(), answered{}); err != nil {
		t.Fatalf("an answered future after Raft went down: %v", err)
	}
	never := make(unanswered)
	defer close(never)
	if err := r.await(context.Background(), never); !errors.Is(err, raft.ErrRaftShutdown) {
		t.Fatalf("an unanswered future after Raft went down: %v, want raft.ErrRaftShutdown", err)
	}
	live := &Replica{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := live.await(ctx, never); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an unanswered future past its context: %v", err)
	}
}

type answered struct{}

func (answered) Error() error { return nil }

// unanswered is a future answered only when the test closes it.
type unanswered chan struct{}

func (u unanswered) Error() error { <-u; return nil }

// TestReadsReturnWhenTheReplicaShutsDown: linearizable reads alone, many
// rounds (a leadership check or a barrier left queued in Raft is a narrow
// window).
func TestReadsReturnWhenTheReplicaShutsDown(t *testing.T) {
	for round := 0; round < 20; round++ {
		r := openTestReplica(t, "zone/A", "n1", filepath.Join(t.TempDir(), "r"))
		if err := r.rep.Bootstrap([]raft.Server{{ID: "n1", Address: r.rep.Addr()}}); err != nil {
			t.Fatal(err)
		}
		wait(t, "the one voter leads", r.rep.IsLeader)
		stop := callers(4, func(w int) {
			if w%2 == 0 {
				// A barrier on every read, not once a term: a barrier
				// left unanswered is the window here.
				r.rep.barrierTerm.Store(0)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			r.rep.Linearizable(ctx, 100*time.Millisecond) //nolint:errcheck // only its return matters
			cancel()
		})
		time.Sleep(50 * time.Millisecond)
		r.close()
		if !stop() {
			t.Fatalf("round %d: a read with a 100 ms deadline has not returned 3 s after the replica shut down", round)
		}
	}
}

// callers runs call(w) in a loop on n goroutines (w = 0..n-1) until the
// returned stop is called; stop reports whether every call in flight
// returned within 3 s of it.
func callers(n int, call func(w int)) (stop func() bool) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-quit:
					return
				default:
				}
				call(w)
			}
		}()
	}
	return func() bool {
		close(quit)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(3 * time.Second):
			return false
		}
	}
}
