package fsm

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkApplyBatch measures applying batches of 64 one-payment entries,
// one bbolt transaction (and fsync) per batch.
func BenchmarkApplyBatch(b *testing.B) {
	h := setup(b)
	var idx uint64 = 1
	h.f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, putAcc(1, 1<<50))})
	const batch = 64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		logs := make([]*raft.Log, batch)
		for j := range logs {
			idx++
			logs[j] = &raft.Log{Index: idx, Type: raft.LogCommand, Data: Encode(nil, pay(1, fmt.Sprintf("k%d", idx), 1))}
		}
		h.f.ApplyBatch(logs)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "payments/s")
}
