package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

type fixture struct {
	d   *Dispatcher
	now time.Time
}

// setup returns a dispatcher with users pending and workers of the given slots, named
// w0, w1, ...
func setup(t *testing.T, slicer Slicer, limit Limit, users int64, slots ...int) *fixture {
	t.Helper()
	d, err := New(DefaultConfig(), slicer, limit)
	if err != nil {
		t.Fatal(err)
	}
	d.AddWork(Range{0, users})
	for i, s := range slots {
		if err := d.AddWorker(WorkerID(fmt.Sprintf("w%d", i)), s); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{d: d, now: day0}
}

func (f *fixture) advance(d time.Duration) { f.now = f.now.Add(d) }

func TestLeaseExpiryRequeues(t *testing.T) {
	f := setup(t, FixedSlicer{Users: 100}, nil, 100, 1, 1)
	leases := f.d.Assign(f.now)
	if len(leases) != 1 || leases[0].Worker != "w0" || leases[0].Range != (Range{0, 100}) {
		t.Fatalf("first assignment = %+v, want [0,100) to w0", leases)
	}
	l := leases[0]
	f.advance(20 * time.Second)
	if _, err := f.d.Renew(l.ID, f.now, 30); err != nil {
		t.Fatalf("renew: %v", err)
	}
	// w0 goes silent. Up to and at the deadline, the TTL from its renewal, nothing
	// happens (the cluster's rule, internal/lease: expired once past the deadline).
	f.advance(time.Minute - time.Nanosecond)
	if x := f.d.Expire(f.now); len(x) != 0 {
		t.Fatalf("expired %+v before the TTL", x)
	}
	f.advance(time.Nanosecond)
	if x := f.d.Expire(f.now); len(x) != 0 {
		t.Fatalf("expired %+v at the deadline", x)
	}
	if at, ok := f.d.NextExpiry(); !ok || !at.Equal(f.now) {
		t.Fatalf("NextExpiry = %v %v, want the deadline %v", at, ok, f.now)
	}
	f.advance(time.Nanosecond)
	x := f.d.Expire(f.now)
	if len(x) != 1 || x[0].Lease.ID != l.ID || x[0].Returned != (Range{30, 100}) {
		t.Fatalf("Expire = %+v, want lease %d returning [30,100) (after its checkpoint)", x, l.ID)
	}
	if err := f.d.RemoveWorker("w0"); err != nil {
		t.Fatal(err)
	}
	again := f.d.Assign(f.now)
	if len(again) != 1 || again[0].Worker != "w1" || again[0].Range != (Range{30, 100}) || again[0].ID == l.ID {
		t.Fatalf("reassignment = %+v, want [30,100) to w1 under a new lease", again)
	}
	// The old holder is fenced whatever it tries.
	if _, err := f.d.Renew(l.ID, f.now, 50); !errors.Is(err, ErrFenced) {
		t.Errorf("renew of the expired lease: %v, want ErrFenced", err)
	}
	if err := f.d.Complete(l.ID, f.now); !errors.Is(err, ErrFenced) {
		t.Errorf("complete of the expired lease: %v, want ErrFenced", err)
	}
	if err := f.d.Complete(again[0].ID, f.now); err != nil {
		t.Fatal(err)
	}
	if !f.d.Done() {
		t.Error("not Done after the re-queued range completed")
	}
}

func TestRenewKeepsLeaseAlive(t *testing.T) {
	f := setup(t, FixedSlicer{Users: 10}, nil, 10, 1)
	l := f.d.Assign(f.now)[0]
	for i := range 10 {
		f.advance(20 * time.Second)
		if _, err := f.d.Renew(l.ID, f.now, int64(i)); err != nil {
			t.Fatalf("renew %d: %v", i, err)
		}
	}
	if x := f.d.Expire(f.now); len(x) != 0 {
		t.Fatalf("a renewed lease expired: %+v", x)
	}
	if _, err := f.d.Renew(l.ID, f.now, 3); !errors.Is(err, ErrProgress) {
		t.Errorf("progress going backwards: %v, want ErrProgress", err)
	}
	if _, err := f.d.Renew(l.ID, f.now, 11); !errors.Is(err, ErrProgress) {
		t.Errorf("progress past the end: %v, want ErrProgress", err)
	}
	if _, err := f.d.Renew(LeaseID(99), f.now, 0); !errors.Is(err, ErrUnknownLease) {
		t.Errorf("unknown lease: %v, want ErrUnknownLease", err)
	}
}

func TestAssignUnderLimit(t *testing.T) {
	f := setup(t, FixedSlicer{Users: 10}, Fixed(3), 1_000, 5, 5)
	if got := len(f.d.Assign(f.now)); got != 3 {
		t.Fatalf("assigned %d tasks under a limit of 3 with 10 free slots", got)
	}
	if got := len(f.d.Assign(f.now)); got != 0 {
		t.Fatalf("assigned %d more at the limit", got)
	}
}

func TestAssignRoundRobin(t *testing.T) {
	f := setup(t, FixedSlicer{Users: 10}, nil, 1_000, 2, 2, 2)
	var order []WorkerID
	for _, l := range f.d.Assign(f.now) {
		order = append(order, l.Worker)
	}
	want := []WorkerID{"w0", "w1", "w2", "w0", "w1", "w2"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("hand-out order %v, want one slot per worker per round %v", order, want)
	}
}

func TestRemovedWorkerGetsNothing(t *testing.T) {
	f := setup(t, FixedSlicer{Users: 10}, nil, 1_000, 1, 1)
	if err := f.d.RemoveWorker("w0"); err != nil {
		t.Fatal(err)
	}
	for _, l := range f.d.Assign(f.now) {
		if l.Worker == "w0" {
			t.Fatalf("lease %+v for a removed worker", l)
		}
	}
	if err := f.d.RemoveWorker("w0"); !errors.Is(err, ErrUnknownWorker) {
		t.Errorf("second removal: %v, want ErrUnknownWorker", err)
	}
	if err := f.d.AddWorker("w1", 1); !errors.Is(err, ErrWorkerExists) {
		t.Errorf("adding an online worker again: %v, want ErrWorkerExists", err)
	}
}

func TestRenewCutsTailForIdleSlots(t *testing.T) {
	f := setup(t, smart(t, func(c *SmartConfig) { c.Factor = 1 }), nil, 10_000, 1)
	l := f.d.Assign(f.now)[0]
	if l.Range != (Range{0, 10_000}) {
		t.Fatalf("lone slot got %v, want everything", l.Range)
	}
	for i := range 4 {
		if err := f.d.AddWorker(WorkerID(fmt.Sprintf("x%d", i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	f.advance(20 * time.Second)
	got, err := f.d.Renew(l.ID, f.now, 1_000)
	if err != nil {
		t.Fatal(err)
	}
	// 9000 left, 4 hungry slots: keep a fifth.
	if got.Range.End != 2_800 {
		t.Fatalf("after the cut the lease ends at %d, want 1000 + 9000/5 = 2800", got.Range.End)
	}
	if n := len(f.d.Assign(f.now)); n != 4 {
		t.Errorf("%d tasks for the 4 idle slots from the cut tail", n)
	}
}

func TestStalledLeaseGivesAwayItsRest(t *testing.T) {
	f := setup(t, smart(t, func(c *SmartConfig) { c.Factor = 1 }), nil, 10_000, 1)
	l := f.d.Assign(f.now)[0]
	f.advance(20 * time.Second)
	if _, err := f.d.Renew(l.ID, f.now, 1_000); err != nil {
		t.Fatal(err)
	}
	if err := f.d.AddWorker("y", 1); err != nil {
		t.Fatal(err)
	}
	f.advance(20 * time.Second)
	got, err := f.d.Renew(l.ID, f.now, 1_000) // no progress: its slot is paused
	if err != nil {
		t.Fatal(err)
	}
	if !got.Finished() || got.Range.End != 1_000 {
		t.Fatalf("stalled lease after renewal: %+v, want finished at its checkpoint 1000", got)
	}
	next := f.d.Assign(f.now)
	// y's share of two online slots, and nothing for the paused slot.
	if len(next) != 1 || next[0].Worker != "y" || next[0].Range != (Range{1_000, 5_500}) {
		t.Fatalf("after the give-away: %+v, want [1000,5500) to y only", next)
	}
	// The paused holder wakes and frees its slot.
	if err := f.d.Complete(l.ID, f.now); err != nil {
		t.Errorf("complete after finishing at renewal: %v", err)
	}
	if f.d.Done() {
		t.Error("Done with [5500,10000) still pending")
	}
}

// TestEveryUserExactlyOnce drives the dispatcher with workers of random speeds that
// renew, stall, complete and sometimes vanish, and checks that every user is counted
// done exactly once: by a completion, or by the checkpoint of a lease that expired or
// finished at a renewal.
func TestEveryUserExactlyOnce(t *testing.T) {
	for _, name := range []string{"fixed", "smart"} {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", name, seed), func(t *testing.T) {
				var sl Slicer = FixedSlicer{Users: 700}
				if name == "smart" {
					sl = smart(t, func(c *SmartConfig) { c.MinUsers = 10 })
				}
				checkExactlyOnce(t, sl, seed)
			})
		}
	}
}

func checkExactlyOnce(t *testing.T, sl Slicer, seed uint64) {
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	const users = 50_000
	f := setup(t, sl, nil, users)
	type run struct {
		l     Lease
		rate  int64 // users a second
		done  int64
		alive bool
	}
	runs := map[LeaseID]*run{}
	speed := map[WorkerID]int64{}
	alive := map[WorkerID]bool{}
	for i := range 8 {
		id := WorkerID(fmt.Sprintf("w%d", i))
		if err := f.d.AddWorker(id, 1+rng.IntN(4)); err != nil {
			t.Fatal(err)
		}
		speed[id], alive[id] = 1+rng.Int64N(20), true
	}
	count := make([]int, users)
	commit := func(r Range) {
		for u := r.Start; u < r.End; u++ {
			count[u]++
		}
	}
	for step := 0; !f.d.Done(); step++ {
		if step > 100_000 {
			t.Fatal("no end after 100000 steps")
		}
		f.advance(time.Second)
		for _, x := range f.d.Expire(f.now) {
			commit(Range{x.Lease.Range.Start, x.Lease.Range.Start + x.Lease.Done})
			delete(runs, x.Lease.ID)
		}
		if step == 60 { // two workers vanish; one joins later
			for _, id := range []WorkerID{"w1", "w2"} {
				alive[id] = false
				if err := f.d.RemoveWorker(id); err != nil {
					t.Fatal(err)
				}
			}
		}
		if step == 120 {
			if err := f.d.AddWorker("w8", 3); err != nil {
				t.Fatal(err)
			}
			speed["w8"], alive["w8"] = 15, true
		}
		for _, l := range f.d.Assign(f.now) {
			runs[l.ID] = &run{l: l, rate: speed[l.Worker], alive: true}
		}
		for _, id := range sortedIDs(runs) {
			r := runs[id]
			if !alive[r.l.Worker] {
				continue // vanished: no progress, no renewal; the lease will expire
			}
			if rng.IntN(50) != 0 { // now and then a slot stalls for a second
				r.done = min(r.done+r.rate, r.l.Range.Len())
			}
			if r.done == r.l.Range.Len() {
				if err := f.d.Complete(id, f.now); err != nil {
					t.Fatalf("complete lease %d: %v", id, err)
				}
				commit(r.l.Range)
				delete(runs, id)
				continue
			}
			if step%20 == int(id%20) {
				l, err := f.d.Renew(id, f.now, r.done)
				if err != nil {
					t.Fatalf("renew lease %d: %v", id, err)
				}
				r.l = l
				if l.Finished() {
					commit(l.Range)
					if err := f.d.Complete(id, f.now); err != nil {
						t.Fatalf("complete finished lease %d: %v", id, err)
					}
					delete(runs, id)
				}
			}
		}
	}
	for u, c := range count {
		if c != 1 {
			t.Fatalf("user %d counted done %d times", u, c)
		}
	}
	st := f.d.Stats()
	t.Logf("tasks %d, splits %d, expired %d", st.Tasks, st.Splits, st.Expired)
	if st.Expired == 0 {
		t.Error("no lease expired: the vanished workers were not exercised")
	}
}

func sortedIDs[V any](m map[LeaseID]V) []LeaseID {
	ids := make([]LeaseID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}

// TestLeaseTimesAndIdsAreRelative: the lease rules take times from the
// Dispatcher's first time and ids from a range's start, so a long TTL, a
// time far from 1970 or a range below zero decide as anywhere else, and a
// lease's expiry is told in the caller's location.
func TestLeaseTimesAndIdsAreRelative(t *testing.T) {
	if err := (Config{LeaseTTL: MaxLeaseTTL + time.Second}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("a TTL above MaxLeaseTTL: %v", err)
	}
	east := time.FixedZone("UTC+8", 8*3600)
	for _, start := range []time.Time{day0.In(east), time.Date(2300, 1, 1, 0, 0, 0, 0, east), time.Date(1, 1, 1, 0, 0, 0, 0, east)} {
		d, err := New(Config{LeaseTTL: MaxLeaseTTL}, FixedSlicer{Users: 20}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.AddWork(Range{Start: -10, End: 10})
		if err := d.AddWorker("w0", 1); err != nil {
			t.Fatal(err)
		}
		l := d.Assign(start)[0]
		if want := start.Add(MaxLeaseTTL); !l.Expires.Equal(want) || l.Expires.Location() != east {
			t.Fatalf("from %s: expires %s, want %s in the caller's location", start, l.Expires, want)
		}
		if x := d.Expire(start.Add(time.Hour)); len(x) != 0 {
			t.Fatalf("from %s: a lease of a year expired after an hour: %+v", start, x)
		}
		if _, err := d.Renew(l.ID, start.Add(2*time.Hour), 5); err != nil {
			t.Fatalf("from %s: renew of a range below zero: %v", start, err)
		}
		x := d.Expire(start.Add(2*time.Hour + MaxLeaseTTL + time.Nanosecond))
		if len(x) != 1 || x[0].Returned != (Range{Start: -5, End: 10}) {
			t.Fatalf("from %s: taken back %+v, want the users after the checkpoint, [-5, 10)", start, x)
		}
	}
}
