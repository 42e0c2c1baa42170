package checker

import (
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

func TestLease(t *testing.T) {
	const s = int64(time.Second)
	cut := func(start, healStart, end int64) []history.Op {
		return []history.Op{
			{Process: history.NemesisProcess, F: history.FFault, Fault: "partition-zone", FaultID: 1, Zone: "A", Time: start},
			{Process: history.NemesisProcess, F: history.FHeal, Fault: "partition-zone", FaultID: 1, Zone: "A", Time: end, HealStart: healStart},
		}
	}
	// write is one pay of zone z, invoked at inv and answered at done.
	write := func(p int, z string, inv, done int64, typ history.Type, created bool) []history.Op {
		in := history.Op{Type: history.Invoke, Process: p, F: history.FPay, User: 7, Key: "k" + string(rune('a'+p)), Zone: z, Time: inv}
		out := in
		out.Type, out.Time, out.Created, out.Status = typ, done, created, "accepted"
		return []history.Op{in, out}
	}
	tests := []struct {
		name  string
		ops   [][]history.Op
		stats map[string]int
		bad   int
		// unknown: the history has nothing to check.
		unknown bool
	}{
		{name: "no cut, nothing to check", ops: [][]history.Op{write(1, "A", 1*s, 9*s, history.OK, true)}, unknown: true},
		{
			name: "writes acked before the lease ran out are fine",
			ops:  [][]history.Op{cut(1*s, 10*s, 11*s), write(1, "A", 2*s, 3*s, history.OK, true)},
		},
		{
			name:  "sent before the end, acked after: counted, not flagged",
			ops:   [][]history.Op{cut(1*s, 10*s, 11*s), write(1, "A", 3900*1e6, 4100*1e6, history.OK, true)},
			stats: map[string]int{"acked-after-expiry-sent-before": 1},
		},
		{
			name: "sent and acked after the lease ran out: flagged",
			ops:  [][]history.Op{cut(1*s, 10*s, 11*s), write(1, "A", 5*s, 5100*1e6, history.OK, true)},
			bad:  1,
		},
		{
			name: "other zones, failed writes, replays and acks after the heal began are fine",
			ops: [][]history.Op{
				cut(1*s, 10*s, 11*s),
				write(1, "B", 5*s, 6*s, history.OK, true),
				write(2, "A", 5*s, 6*s, history.Fail, false),
				write(3, "A", 2*s, 2500*1e6, history.Info, false), // first sent before the lease ran out
				write(3, "A", 5*s, 6*s, history.OK, false),
				write(4, "A", 9*s, 10500*1e6, history.OK, true),
			},
			stats: map[string]int{"replays-after-expiry": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ops []history.Op
			for _, o := range tt.ops {
				ops = append(ops, o...)
			}
			for i := range ops {
				ops[i].Index = i
			}
			r := Lease{Duration: 3 * time.Second, Faults: []string{"partition-zone"}}.Check(ops)
			if got := r.Anomalies[WriteAfterLeaseExpiry]; got != tt.bad {
				t.Fatalf("%d %s, want %d: %+v", got, WriteAfterLeaseExpiry, tt.bad, r)
			}
			if tt.unknown && r.Verdict != Unknown {
				t.Errorf("verdict %s, want unknown", r.Verdict)
			}
			if !tt.unknown && (r.Verdict == Valid) != (tt.bad == 0) {
				t.Errorf("verdict %s with %d anomalies", r.Verdict, tt.bad)
			}
			for k, v := range tt.stats {
				if r.Stats[k] != v {
					t.Errorf("stat %s = %d, want %d (%v)", k, r.Stats[k], v, r.Stats)
				}
			}
		})
	}
}

// TestLeaseRetryAfterDefiniteFailure: a key's first attempt, sent before
// the lease ran out, certainly failed (503); the retry, sent after expiry,
// is acknowledged 201 by the cut-off zone: a write after the lease ended.
// The key is judged by its earliest attempt that may have applied.
func TestLeaseRetryAfterDefiniteFailure(t *testing.T) {
	const s = int64(time.Second)
	ops := []history.Op{
		{Process: history.NemesisProcess, F: history.FFault, Fault: "partition-zone", FaultID: 1, Zone: "A", Time: 1 * s},
		{Type: history.Invoke, Process: 1, F: history.FPay, User: 7, Key: "k", Zone: "A", Time: 3 * s, Attempt: 1},
		{Type: history.Fail, Process: 1, F: history.FPay, User: 7, Key: "k", Zone: "A", Time: 3100 * 1e6, Attempt: 1, Error: "unavailable"},
		{Type: history.Invoke, Process: 1, F: history.FPay, User: 7, Key: "k", Zone: "A", Time: 6 * s, Attempt: 2},
		{Type: history.OK, Process: 1, F: history.FPay, User: 7, Key: "k", Zone: "A", Time: 6100 * 1e6, Attempt: 2, Created: true, Status: "accepted", LogIndex: 99},
		{Process: history.NemesisProcess, F: history.FHeal, Fault: "partition-zone", FaultID: 1, Zone: "A", Time: 11 * s, HealStart: 10 * s},
	}
	for i := range ops {
		ops[i].Index = i
	}
	r := Lease{Duration: 3 * time.Second, Faults: []string{"partition-zone"}}.Check(ops)
	if r.Anomalies[WriteAfterLeaseExpiry] == 0 {
		t.Fatalf("verdict %s, stats %v: a 201 for an attempt sent after expiry, whose only earlier attempt certainly failed, passed", r.Verdict, r.Stats)
	}
}
