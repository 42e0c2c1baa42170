package zone

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
)

// backup is the backup zone's state machine, fed marks and clears as log
// entries in the order they would commit there.
type backup struct {
	t     *testing.T
	f     *fsm.FSM
	index uint64
}

func (b *backup) apply(typ fsm.CmdType, marks []fsm.Mark) {
	b.t.Helper()
	b.applyCmd(fsm.Command{Type: typ, NodeID: "A", Marks: marks})
}

func (b *backup) applyCmd(c fsm.Command) {
	b.t.Helper()
	b.index++
	b.f.Apply(&raft.Log{Index: b.index, Type: raft.LogCommand, Data: fsm.Encode(nil, c)})
}

func (b *backup) marked() map[uint64]bool {
	us, err := b.f.Marks("A")
	if err != nil {
		b.t.Fatal(err)
	}
	out := map[uint64]bool{}
	for _, u := range us {
		out[u] = true
	}
	return out
}

// TestGuardMarkInvariant drives random writes, backup replica lag, delayed
// and reordered clears and leader changes, and after every step checks the
// failover invariant: every account with a committed write in zone A that
// the backup's replica has not applied is marked in the backup zone.
//
// Even runs start each new leader's guard from the marks the backup holds
// (NewGuard with existing marks); odd runs do as the server does: the new
// leader starts empty and, once the backup has applied past its first
// index, sweeps every mark of an earlier term (CmdGuardClear with Term),
// also delayed and reordered.
func TestGuardMarkInvariant(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RZONE_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (replay with RZONE_TEST_SEED=%d)", seed, seed)
	for run := 0; run < 20; run++ {
		t.Run(fmt.Sprint("run", run), func(t *testing.T) { guardRun(t, seed+uint64(run)) })
	}
}

type inflight struct {
	user   uint64
	marked bool // its mark is committed in the backup
	mark   *MarkReq
}

func guardRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	f, err := fsm.Open(filepath.Join(t.TempDir(), "b.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := &backup{t: t, f: f}

	var (
		index     uint64                // zone A's last log index
		applied   uint64                // the backup replica's applied index of A
		committed = map[uint64]uint64{} // user -> index of its last committed write
		term      = uint64(1)
		g         = NewGuard(term, nil, 0)
		flying    []inflight
		delayed   []fsm.Command // clears sent but not yet committed in the backup
		steps     = map[string]int{}
		sweeping  = seed%2 == 1
		start     uint64 // sweeping: the leader's last index when its term began
		swept     bool
	)
	check := func(step string) {
		marked := b.marked()
		for u, i := range committed {
			if i > applied && !marked[u] {
				t.Fatalf("seed %d, after %s: user %d has a write at %d, backup applied %d, and no mark", seed, step, u, i, applied)
			}
		}
	}
	for step := 0; step < 600; step++ {
		var name string
		switch op := rng.IntN(100); {
		case op < 30: // a write begins: mark first if asked
			name = "begin"
			u := uint64(rng.IntN(8))
			m := g.Begin(u)
			in := inflight{user: u, mark: m, marked: m == nil}
			if m != nil && rng.IntN(3) > 0 {
				b.apply(fsm.CmdMark, []fsm.Mark{{User: m.User, Term: m.Term, Seq: m.Seq}})
				g.Marked(*m)
				in.marked = true
			}
			flying = append(flying, in)
		case op < 40 && len(flying) > 0: // a pending mark commits
			name = "mark"
			i := rng.IntN(len(flying))
			if in := &flying[i]; !in.marked {
				b.apply(fsm.CmdMark, []fsm.Mark{{User: in.mark.User, Term: in.mark.Term, Seq: in.mark.Seq}})
				g.Marked(*in.mark)
				in.marked = true
			}
		case op < 60 && len(flying) > 0: // a marked write commits (or fails before the log)
			name = "commit"
			i := rng.IntN(len(flying))
			in := flying[i]
			if !in.marked {
				continue // a write never proposes before its mark commits
			}
			flying = append(flying[:i], flying[i+1:]...)
			if rng.IntN(10) == 0 {
				g.End(in.user, 0)
			} else {
				index++
				committed[in.user] = index
				g.End(in.user, index)
			}
		case op < 75: // the backup replica applies some more of A's log
			name = "replicate"
			applied += uint64(rng.IntN(int(index-applied) + 1))
		case op < 85: // clears computed; committed now or later
			name = "clear"
			var ms []fsm.Mark
			for _, c := range g.Clearable(applied) {
				ms = append(ms, fsm.Mark{User: c.User, Term: c.Term, Seq: c.Seq})
			}
			c := fsm.Command{Type: fsm.CmdGuardClear, NodeID: "A", Marks: ms, Epoch: applied}
			if sweeping && !swept && applied >= start {
				c.Term, swept = term, true
			}
			if len(ms) > 0 || c.Term > 0 {
				delayed = append(delayed, c)
			}
		case op < 95 && len(delayed) > 0: // a delayed clear commits in the backup
			name = "clear-commit"
			i := rng.IntN(len(delayed))
			b.applyCmd(delayed[i])
			delayed = append(delayed[:i], delayed[i+1:]...)
		case op >= 95: // leader change: in-flight writes may still commit
			name = "leader-change"
			for _, in := range flying {
				if in.marked && rng.IntN(2) == 0 {
					index++
					committed[in.user] = index
				}
			}
			flying = nil
			term++
			if sweeping {
				g, start, swept = NewGuard(term, nil, index), index, false
			} else {
				existing, _ := f.Marks("A")
				g = NewGuard(term, existing, index)
			}
		default:
			continue
		}
		steps[name]++
		if os.Getenv("GUARD_TRACE") != "" {
			t.Logf("%3d %-13s index %d applied %d marked %v flying %+v delayed %v committed %v", step, name, index, applied, b.marked(), flying, delayed, committed)
		}
		check(name)
	}
	t.Logf("seed %d: steps %v, final index %d, backup applied %d", seed, steps, index, applied)
}
