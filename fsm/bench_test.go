package fsm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// BenchmarkApplyBatch measures applying batches of 64 one-payment entries,
// under the default commit policy (a state file commit every 10,000
// commands or 100 ms) and committing every batch (an fsync per batch).
func BenchmarkApplyBatch(b *testing.B) {
	for _, c := range []struct {
		name   string
		policy CommitPolicy
	}{{"default", DefaultCommitPolicy}, {"every-batch", CommitEveryBatch}} {
		b.Run(c.name, func(b *testing.B) {
			f, err := OpenWith(filepath.Join(b.TempDir(), "state.db"), nil, c.policy)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var idx uint64 = 1
			if r := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, putAcc(1, 1_000_000_000_000_000))}).([]Result); r[0].Code != OK {
				b.Fatalf("put account: %+v", r[0])
			}
			const batch = 64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				logs := make([]*raft.Log, batch)
				for j := range logs {
					idx++
					logs[j] = &raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, pay(1, fmt.Sprintf("k%d", idx), 1))}
				}
				for _, r := range f.ApplyBatch(logs) {
					if r.([]Result)[0].Code != OK {
						b.Fatalf("pay: %+v", r)
					}
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "payments/s")
		})
	}
}

// BenchmarkPost measures posting batches of 2000 payments over 500
// accounts, as the leader's poster proposes them.
func BenchmarkPost(b *testing.B) {
	h := setup(b)
	var idx uint64
	var cmds []Command
	for u := uint64(0); u < 500; u++ {
		cmds = append(cmds, putAcc(u, 1_000_000_000_000))
	}
	idx++
	h.f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, cmds...)})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cmds = cmds[:0]
		for j := 0; j < 2000; j++ {
			cmds = append(cmds, pay(uint64(j%500), fmt.Sprintf("k%d-%d", i, j), 1))
		}
		idx++
		h.f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, cmds...)})
		refs, _ := h.f.Unposted(2000)
		idx++
		post := &raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, Command{Type: CmdPost, Time: t0, Posts: refs})}
		b.StartTimer()
		if r := h.f.Apply(post).([]Result); r[0].Posted != 2000 {
			b.Fatalf("posted %d", r[0].Posted)
		}
	}
	b.ReportMetric(float64(b.N*2000)/b.Elapsed().Seconds(), "postings/s")
}

// batchOf returns a log entry's worth of n payments, as a batch request
// proposes them.
func batchOf(n int) []Command {
	cmds := make([]Command, n)
	for i := range cmds {
		cmds[i] = pay(uint64(i%500), fmt.Sprintf("pay-%032x", i), 1999)
	}
	return cmds
}

// BenchmarkEncode measures encoding a 100-payment log entry.
func BenchmarkEncode(b *testing.B) {
	cmds := batchOf(100)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = Encode(buf[:0], cmds...)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.N*len(cmds))/b.Elapsed().Seconds(), "payments/s")
}

// BenchmarkDecode measures decoding a 100-payment log entry, as every
// replica does in Apply.
func BenchmarkDecode(b *testing.B) {
	cmds := batchOf(100)
	data := Encode(nil, cmds...)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := Decode(data)
		if err != nil || len(got) != len(cmds) {
			b.Fatalf("decode: %d commands, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.N*len(cmds))/b.Elapsed().Seconds(), "payments/s")
}

// BenchmarkPayAndPost measures the zone's write path as a node applies it:
// entries of 16 single payments on random accounts of 10,000, a posting
// entry after every 64 payment entries, under commit policies of several
// intervals (the default is 100 ms). The figure to read is payments/s:
// apply, posting and the state file's commits together.
func BenchmarkPayAndPost(b *testing.B) {
	for _, iv := range []time.Duration{0, 100 * time.Millisecond, time.Second} {
		policy := CommitPolicy{Entries: 10_000, Interval: iv}
		name := "every-batch"
		if iv > 0 {
			name = iv.String()
		} else {
			policy = CommitEveryBatch
		}
		b.Run(name, func(b *testing.B) {
			f, err := OpenWith(filepath.Join(b.TempDir(), "state.db"), nil, policy)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			const accounts = 10_000
			idx := seedAccounts(f, accounts)
			rng := rand.New(rand.NewPCG(1, 2))
			var posts []PostRef
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				logs := make([]*raft.Log, 0, 65)
				for j := 0; j < 64; j++ {
					cmds := make([]Command, 16)
					for k := range cmds {
						u := rng.Uint64N(accounts)
						key := fmt.Sprintf("k%d-%d-%d", i, j, k)
						cmds[k] = Command{Type: CmdPay, User: u, Time: t0, Key: key, Amount: 1, Merchant: "m"}
						posts = append(posts, PostRef{User: u, Key: key})
					}
					idx++
					logs = append(logs, &raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, cmds...)})
				}
				idx++
				logs = append(logs, &raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, Command{Type: CmdPost, Time: t0, Posts: posts})})
				posts = posts[:0]
				f.ApplyBatch(logs)
			}
			b.ReportMetric(float64(b.N*64*16)/b.Elapsed().Seconds(), "payments/s")
		})
	}
}

// BenchmarkDuePage measures a page of a shard's due users over a zone of
// 200,000 bills (100,000 users, two cycles, every shard), each read after
// an apply has left the state file's transaction open, as on a zone leader
// under load: "count" is the counted read generation makes of a whole
// shard (it counts every bill and commits the state file first),
// "task-count" the same read of a task's range of 500 users (what every
// task's load cost before it could skip the count), "task" that load
// without the count (DueRange: a seek and a walk of the range in the open
// transaction) and "shard" a whole shard without the count.
func BenchmarkDuePage(b *testing.B) {
	const users, shard, cycle = 100_000, 7, 202611
	lo, hi := uint64(shard+NumShards*250), uint64(shard+NumShards*749)
	f, err := OpenWith(filepath.Join(b.TempDir(), "state.db"), nil, CommitPolicy{Entries: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	putBills(b, f, users, cycle-1, cycle)
	var idx uint64
	for _, c := range []struct {
		name   string
		count  bool
		lo, hi uint64
		want   int
	}{
		{"count", true, 0, math.MaxUint64, users / NumShards},
		{"task-count", true, lo, hi, 500},
		{"task", false, lo, hi, 500},
		{"shard", false, 0, math.MaxUint64, users / NumShards},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				idx++
				f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, putAcc(idx, 10))})
				b.StartTimer()
				var got []uint64
				var err error
				if c.count {
					got, _, err = f.DuePage(shard, cycle, c.lo, c.hi, 20_000)
				} else {
					got, err = f.DueRange(shard, cycle, c.lo, c.hi, 20_000)
				}
				if err != nil || len(got) != c.want {
					b.Fatalf("%d users, %v; want %d", len(got), err, c.want)
				}
			}
		})
	}
}

// BenchmarkPostCadence measures what booking payments soon after they are
// accepted saves in state file pages: entries of 16 single payments on
// random accounts of 10,000, a state file commit every 400 payments (what
// 100 ms holds at about 4,000 payments/s), and a posting entry after every
// 50 payment entries (800 payments, the poster every 200 ms at that rate)
// or every 5 (80 payments, every 20 ms). Booked in the commit that
// accepted it, a payment's page, its account's and its bill's are written
// once; booked a commit later, twice. The figures to read are pages a
// payment (every page a commit wrote, over the payments applied) and
// payments/s.
func BenchmarkPostCadence(b *testing.B) {
	for _, every := range []int{50, 5} {
		b.Run(fmt.Sprintf("post-every-%d-entries", every), func(b *testing.B) {
			f, err := OpenWith(filepath.Join(b.TempDir(), "state.db"), nil, CommitPolicy{Entries: 400})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var pages int64
			f.ObserveCommits(func(s CommitStats) { pages += s.Pages })
			const accounts, perEntry = 10_000, 16
			idx := seedAccounts(f, accounts)
			rng := rand.New(rand.NewPCG(1, 2))
			var posts []PostRef
			post := func() {
				idx++
				r := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, Command{Type: CmdPost, Time: t0, Posts: posts})}).([]Result)
				if r[0].Posted != len(posts) {
					b.Fatalf("posted %d of %d", r[0].Posted, len(posts))
				}
				posts = posts[:0]
			}
			pages = 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cmds := make([]Command, perEntry)
				for k := range cmds {
					u := rng.Uint64N(accounts)
					key := fmt.Sprintf("k%d-%d", i, k)
					cmds[k] = Command{Type: CmdPay, User: u, Time: t0, Key: key, Amount: 1, Merchant: "m"}
					posts = append(posts, PostRef{User: u, Key: key})
				}
				idx++
				f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, cmds...)})
				if (i+1)%every == 0 {
					post()
				}
			}
			if len(posts) > 0 {
				post()
			}
			b.ReportMetric(float64(pages)/float64(b.N*perEntry), "pages/payment")
			b.ReportMetric(float64(b.N*perEntry)/b.Elapsed().Seconds(), "payments/s")
		})
	}
}

// seedAccounts applies accounts 0 to n-1 (n a multiple of 1,000), a
// thousand an entry from index 1, and returns the last index applied.
func seedAccounts(f *FSM, n uint64) (idx uint64) {
	for u := uint64(0); u < n; u += 1000 {
		var cmds []Command
		for i := u; i < u+1000; i++ {
			cmds = append(cmds, putAcc(i, 1_000_000_000_000))
		}
		idx++
		f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, cmds...)})
	}
	return idx
}
