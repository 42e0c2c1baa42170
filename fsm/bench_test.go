package fsm

import (
	"fmt"
	"path/filepath"
	"testing"

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
