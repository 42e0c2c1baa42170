package fsm

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestDueRangeDoesNotForceACommit: a due read without the count (a task's
// load) answers from the applied state, bills not yet committed included,
// without committing the state file; the counted read (generation's)
// commits it and returns the same users.
func TestDueRangeDoesNotForceACommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := OpenWith(path, nil, CommitPolicy{Entries: 1 << 30, Interval: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := &harness{t: t, f: f, path: path}
	var want []uint64
	for u := uint64(3); u < 3+10*NumShards; u += NumShards / 2 { // shards 3 and 53
		h.one(putAcc(u, 10_000))
		h.one(pay(u, "k", 100))
		if u%NumShards == 3 {
			want = append(want, u)
		}
	}
	h.postAll()
	cycle := CycleOf(t0)
	got, err := f.DueRange(3, cycle, 0, math.MaxUint64, 100)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("due without count: %v, %v; want %v", got, err, want)
	}
	if d := f.DurableIndex(); d != 0 {
		t.Fatalf("the due read without count committed the state file up to %d", d)
	}
	counted, count, err := f.DuePage(3, cycle, 0, math.MaxUint64, 100)
	if err != nil || !slices.Equal(counted, want) || count != int64(len(want)) {
		t.Fatalf("counted due read: %v count %d, %v; want %v", counted, count, err, want)
	}
	if d := f.DurableIndex(); d != h.index {
		t.Fatalf("the counted read left the state file at %d, applied %d", d, h.index)
	}
}

// putBills writes a bill for each user of [0, users) and each cycle straight
// into the state file (no apply): a large zone's bills in a second.
func putBills(t testing.TB, f *FSM, users uint64, cycles ...uint32) {
	t.Helper()
	const per = 50_000
	for lo := uint64(0); lo < users; lo += per {
		err := f.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketBills)
			b.FillPercent = 0.9
			for u := lo; u < min(users, lo+per); u++ {
				for _, c := range cycles {
					put(b, billKey(u, c), &billRec{Principal: 100, Payments: 1})
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDueRangeMatchesDuePage: over bills of several cycles, the read without
// count returns what the counted read does for any shard, range and limit,
// also when it walks the range in several holds of the transaction (a cap
// of a few keys per hold).
func TestDueRangeMatchesDuePage(t *testing.T) {
	h := setup(t)
	putBills(t, h.f, 3000, 202610, 202611, 202612)
	h.one(putAcc(1, 10)) // an open write transaction
	defer func(n int) { dueScanKeys = n }(dueScanKeys)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 200; i++ {
		shard, cycle := rng.IntN(NumShards), uint32(202609+rng.IntN(4))
		from := rng.Uint64N(3200)
		hi := from + rng.Uint64N(2000)
		if i%10 == 0 {
			hi = math.MaxUint64
		}
		limit := 1 + rng.IntN(40)
		dueScanKeys = []int{1, 7, 4096}[i%3]
		want, _, err := h.f.DuePage(shard, cycle, from, hi, limit)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.f.DueRange(shard, cycle, from, hi, limit)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("shard %d cycle %d [%d,%d] limit %d, %d keys a hold: %v, %v; counted read %v",
				shard, cycle, from, hi, limit, dueScanKeys, got, err, want)
		}
	}
}
