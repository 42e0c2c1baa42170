package history

import (
	"bytes"
	"testing"
)

func TestRecorderRoundTripAndPairs(t *testing.T) {
	var buf bytes.Buffer
	r := NewRecorder(&buf)
	r.Add(Op{Type: Invoke, Process: 0, F: FPay, User: 1, Key: "k1", Amount: 5})
	r.Add(Op{Type: Info, Process: NemesisProcess, F: FFault, Fault: "kill", FaultID: 1, Targets: []string{"n1"}})
	r.Add(Op{Type: Invoke, Process: 1, F: FRead, User: 1})
	r.Add(Op{Type: OK, Process: 0, F: FPay, User: 1, Key: "k1", Amount: 5, Status: "accepted", Created: true})
	r.Add(Op{Type: Info, Process: NemesisProcess, F: FHeal, Fault: "kill", FaultID: 1})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	ops, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 5 {
		t.Fatalf("read %d ops, want 5", len(ops))
	}
	for i, op := range ops {
		if op.Index != i {
			t.Errorf("op %d has index %d", i, op.Index)
		}
		if i > 0 && op.Time < ops[i-1].Time {
			t.Errorf("time goes back at op %d", i)
		}
	}
	pairs := Pairs(ops)
	if len(pairs) != 2 {
		t.Fatalf("got %d pairs, want 2", len(pairs))
	}
	if pairs[0].Type() != OK || pairs[0].Complete.Key != "k1" {
		t.Errorf("pair 0 = %+v", pairs[0])
	}
	if pairs[1].Complete != nil || pairs[1].Type() != Info {
		t.Errorf("incomplete read should count as info: %+v", pairs[1])
	}
	ws := Windows(ops)
	if len(ws) != 1 || ws[0].Fault != "kill" || ws[0].End < ws[0].Start || ws[0].Targets[0] != "n1" {
		t.Errorf("windows = %+v", ws)
	}
}
