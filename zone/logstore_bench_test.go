package zone

import (
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkLogStoreAppend appends one entry of a shared payment batch's
// size (1 KiB) per operation to each kind of Raft log store, as a leader
// does for every entry before it replicates it: raft-wal writes and
// fsyncs the segment file once, raft-boltdb commits a bbolt transaction
// (its pages, then its meta page, each with an fsync).
func BenchmarkLogStoreAppend(b *testing.B) {
	data := make([]byte, 1024)
	for _, kind := range []LogStoreKind{LogStoreWAL, LogStoreBolt} {
		b.Run(string(kind), func(b *testing.B) {
			s, got, err := openRaftStore(b.TempDir(), kind, nil)
			if err != nil || got != kind {
				b.Fatalf("open %s: got %s, %v", kind, got, err)
			}
			defer s.Close()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.StoreLogs([]*raft.Log{{Index: uint64(i) + 1, Term: 1, Type: raft.LogCommand, Data: data}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
