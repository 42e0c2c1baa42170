package checker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// hb builds hand-made histories: each call appends one entry one
// millisecond after the previous (plus what wait added).
type hb struct {
	ops []history.Op
	// base is added to every later entry's time (see wait).
	base int64
	// zone, when set, is the zone of every later client entry.
	zone string
}

func (h *hb) add(op history.Op) *hb {
	op.Index = len(h.ops)
	op.Time = h.base + int64(len(h.ops)+1)*1e6
	if op.Workload == "" {
		op.Workload = "w"
	}
	if op.Zone == "" && op.Process != history.NemesisProcess {
		op.Zone = h.zone
	}
	h.ops = append(h.ops, op)
	return h
}

// wait moves the clock of later entries d ahead.
func (h *hb) wait(d time.Duration) *hb {
	h.base += int64(d)
	return h
}

// now is the time of the next entry.
func (h *hb) now() int64 { return h.base + int64(len(h.ops)+1)*1e6 }

func (h *hb) put(p int, user uint64, limit int64) *hb {
	h.add(history.Op{Type: history.Invoke, Process: p, F: history.FPut, User: user, Amount: limit})
	return h.add(history.Op{Type: history.OK, Process: p, F: history.FPut, User: user, Amount: limit,
		Account: &history.Account{CreditLimit: limit}})
}

func (h *hb) payInvoke(p int, user uint64, key string, amt int64) *hb {
	return h.add(history.Op{Type: history.Invoke, Process: p, F: history.FPay, User: user, Key: key, Amount: amt})
}

func (h *hb) payDone(p int, user uint64, key string, amt int64, t history.Type, status string, created bool, idx uint64) *hb {
	return h.add(history.Op{Type: t, Process: p, F: history.FPay, User: user, Key: key, Amount: amt,
		Status: status, Created: created, LogIndex: idx})
}

func (h *hb) pay(p int, user uint64, key string, amt int64, idx uint64) *hb {
	return h.payInvoke(p, user, key, amt).payDone(p, user, key, amt, history.OK, "accepted", true, idx)
}

func (h *hb) repay(p int, user uint64, key string, amt int64, status string) *hb {
	h.add(history.Op{Type: history.Invoke, Process: p, F: history.FRepay, User: user, Key: key, Amount: amt})
	return h.add(history.Op{Type: history.OK, Process: p, F: history.FRepay, User: user, Key: key, Amount: amt, Status: status, Created: true})
}

func (h *hb) read(p int, user uint64, a history.Account) *hb {
	h.add(history.Op{Type: history.Invoke, Process: p, F: history.FRead, User: user})
	return h.add(history.Op{Type: history.OK, Process: p, F: history.FRead, User: user, Account: &a})
}

func (h *hb) final(node string, user uint64, applied uint64, a history.Account, ps ...history.Payment) *hb {
	if ps == nil {
		ps = []history.Payment{}
	}
	return h.add(history.Op{Type: history.OK, Process: 100, F: history.FFinalRead, Node: node, User: user,
		Applied: applied, Account: &a, Payments: ps})
}

func mkAcct(limit, used, pending, accepted, repaid int64) history.Account {
	return history.Account{CreditLimit: limit, Used: used, Pending: pending, Accepted: accepted, Repaid: repaid}
}

func pmt(key string, amt int64, status string, idx uint64) history.Payment {
	return history.Payment{Key: key, Amount: amt, Status: status, LogIndex: idx}
}

func TestCheckers(t *testing.T) {
	tests := []struct {
		name    string
		history func() []history.Op
		checker Checker
		want    Verdict
		anomaly string // expected anomaly kind when invalid
	}{
		{
			name: "set: clean history with an unknown payment that applied",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5)
				h.payInvoke(1, 1, "b", 20).payDone(1, 1, "b", 20, history.Info, "", false, 0)
				h.payInvoke(1, 1, "c", 30).payDone(1, 1, "c", 30, history.Fail, "", false, 0)
				return h.final("n1", 1, 9, mkAcct(1000, 10, 20, 30, 0), pmt("a", 10, "posted", 5), pmt("b", 20, "accepted", 7)).
					final("n2", 1, 9, mkAcct(1000, 10, 20, 30, 0), pmt("a", 10, "posted", 5), pmt("b", 20, "accepted", 7)).ops
			},
			checker: Set{},
			want:    Valid,
		},
		{
			name: "set: lost write",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5).pay(0, 1, "b", 20, 6)
				return h.final("n1", 1, 9, mkAcct(1000, 0, 10, 10, 0), pmt("a", 10, "accepted", 5)).ops
			},
			checker: Set{},
			want:    Invalid,
			anomaly: LostWrite,
		},
		{
			name: "set: double charge seen as two log indexes of one key",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5)
				h.add(history.Op{Type: history.Invoke, Process: 0, F: history.FPay, User: 1, Key: "a", Amount: 10, Replay: true})
				h.payDone(0, 1, "a", 10, history.OK, "accepted", true, 8)
				return h.final("n1", 1, 9, mkAcct(1000, 0, 20, 20, 0), pmt("a", 10, "accepted", 8)).ops
			},
			checker: Set{},
			want:    Invalid,
			anomaly: DoubleCharge,
		},
		{
			name: "set: phantom write",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5)
				return h.final("n1", 1, 9, mkAcct(1000, 0, 17, 17, 0), pmt("a", 10, "accepted", 5), pmt("zz", 7, "accepted", 6)).ops
			},
			checker: Set{},
			want:    Invalid,
			anomaly: PhantomWrite,
		},
		{
			name: "set: replicas diverge at one applied index",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5)
				h.payInvoke(1, 1, "b", 20).payDone(1, 1, "b", 20, history.Info, "", false, 0)
				return h.final("n1", 1, 9, mkAcct(1000, 0, 10, 10, 0), pmt("a", 10, "accepted", 5)).
					final("n2", 1, 9, mkAcct(1000, 0, 30, 30, 0), pmt("a", 10, "accepted", 5), pmt("b", 20, "accepted", 7)).ops
			},
			checker: Set{},
			want:    Invalid,
			anomaly: ReplicaDivergent,
		},
		{
			name: "set: no final read is unknown, not valid",
			history: func() []history.Op {
				return (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5).ops
			},
			checker: Set{},
			want:    Unknown,
		},
		{
			name: "bank: clean history",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 100).pay(0, 1, "a", 60, 5).read(1, 1, mkAcct(100, 60, 0, 60, 0)).repay(0, 1, "r", 50, "applied")
				h.payInvoke(0, 1, "b", 50).payDone(0, 1, "b", 50, history.OK, "declined", true, 7)
				return h.final("n1", 1, 9, mkAcct(100, 10, 0, 60, 50), pmt("a", 60, "posted", 5), pmt("b", 50, "declined", 7)).ops
			},
			checker: Bank{},
			want:    Valid,
		},
		{
			name: "bank: money created inside one account read",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 100).pay(0, 1, "a", 60, 5).read(1, 1, mkAcct(100, 60, 10, 60, 0))
				return h.final("n1", 1, 9, mkAcct(100, 60, 0, 60, 0)).ops
			},
			checker: Bank{},
			want:    Invalid,
			anomaly: MoneyCreated,
		},
		{
			name: "bank: money created by a payment charged twice",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 60, 5)
				return h.final("n1", 1, 9, mkAcct(1000, 0, 120, 120, 0)).ops
			},
			checker: Bank{},
			want:    Invalid,
			anomaly: MoneyCreated,
		},
		{
			name: "bank: acknowledged repayment lost",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 60, 5).repay(0, 1, "r", 20, "applied")
				return h.final("n1", 1, 9, mkAcct(1000, 60, 0, 60, 0)).ops
			},
			checker: Bank{},
			want:    Invalid,
			anomaly: MoneyLost,
		},
		{
			name: "bank: over the limit",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 50).pay(0, 1, "a", 60, 5)
				return h.final("n1", 1, 9, mkAcct(50, 0, 60, 60, 0)).ops
			},
			checker: Bank{},
			want:    Invalid,
			anomaly: OverLimit,
		},
		{
			name: "linearizable: clean history with an unknown payment",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 100).pay(0, 1, "a", 30, 5).read(1, 1, mkAcct(100, 0, 30, 30, 0))
				h.payInvoke(0, 1, "b", 80).payDone(0, 1, "b", 80, history.OK, "declined", true, 6)
				h.payInvoke(2, 1, "c", 10).payDone(2, 1, "c", 10, history.Info, "", false, 0)
				h.read(1, 1, mkAcct(100, 0, 30, 30, 0)).read(1, 1, mkAcct(100, 40, 0, 40, 0))
				return h.repay(0, 1, "r", 15, "applied").read(1, 1, mkAcct(100, 25, 0, 40, 15)).ops
			},
			checker: Linearizable{},
			want:    Valid,
		},
		{
			name: "linearizable: stale read after an acknowledged payment",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 100).pay(0, 1, "a", 30, 5).read(1, 1, mkAcct(100, 0, 30, 30, 0))
				h.pay(0, 1, "b", 20, 6)
				return h.read(1, 1, mkAcct(100, 0, 30, 30, 0)).ops
			},
			checker: Linearizable{},
			want:    Invalid,
			anomaly: StaleRead,
		},
		{
			name: "linearizable: payment accepted beyond the limit",
			history: func() []history.Op {
				return (&hb{}).put(0, 1, 100).pay(0, 1, "a", 70, 5).pay(0, 1, "b", 70, 6).ops
			},
			checker: Linearizable{},
			want:    Invalid,
			anomaly: Nonlinearizable,
		},
		{
			name: "linearizable: payment declined with room to spare",
			history: func() []history.Op {
				h := (&hb{}).put(0, 1, 100)
				return h.payInvoke(0, 1, "a", 10).payDone(0, 1, "a", 10, history.OK, "declined", true, 5).ops
			},
			checker: Linearizable{},
			want:    Invalid,
			anomaly: Nonlinearizable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.checker.Check(tt.history())
			t.Logf("%s: %s %v %v unchecked=%v notes=%v", r.Checker, r.Verdict, r.Anomalies, r.Examples, r.Unchecked, r.Notes)
			if r.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s (anomalies %v, examples %v)", r.Verdict, tt.want, r.Anomalies, r.Examples)
			}
			if tt.anomaly != "" && !r.Has(tt.anomaly) {
				t.Fatalf("anomalies %v do not name %s", r.Anomalies, tt.anomaly)
			}
			if tt.want == Invalid {
				if len(r.Examples) == 0 {
					t.Fatal("invalid without a counter-example")
				}
				for _, e := range r.Examples {
					if e.Detail == "" || len(e.Ops) == 0 {
						t.Errorf("counter-example without detail or ops: %+v", e)
					}
				}
			}
		})
	}
}

func TestLinearizableWritesVisualization(t *testing.T) {
	h := (&hb{}).put(0, 7, 100).pay(0, 7, "a", 30, 5)
	h.read(1, 7, mkAcct(100, 0, 0, 0, 0))
	dir := t.TempDir()
	r := Linearizable{OutDir: dir}.Check(h.ops)
	if r.Verdict != Invalid || !r.Has(StaleRead) {
		t.Fatalf("got %s %v", r.Verdict, r.Anomalies)
	}
	if len(r.Files) != 1 {
		t.Fatalf("files = %v", r.Files)
	}
	data, err := os.ReadFile(r.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(r.Files[0]) != "linearizability-user-7.html" || !strings.Contains(string(data), "<html") {
		t.Errorf("unexpected visualization %s (%d bytes)", r.Files[0], len(data))
	}
	if !strings.Contains(r.Examples[0].Detail, "read → owed 0") {
		t.Errorf("counter-example does not name the read: %s", r.Examples[0].Detail)
	}
}

func TestCheckAllAndAnomalyString(t *testing.T) {
	h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5)
	h.final("n1", 1, 9, mkAcct(1000, 0, 0, 0, 0))
	rs, v := CheckAll(h.ops, Set{}, Bank{}, Linearizable{})
	if v != Invalid {
		t.Fatal("CheckAll says valid for a lost write")
	}
	if !rs[0].Has(LostWrite) || !rs[1].Has(MoneyLost) {
		t.Fatalf("set %v, bank %v", rs[0].Anomalies, rs[1].Anomalies)
	}
	if s := rs[0].Examples[0].String(); !strings.HasPrefix(s, "lost-write user=1 key=a node=n1:") {
		t.Errorf("anomaly string %q", s)
	}
}
