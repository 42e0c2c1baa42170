package checker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// failoverOps is a failover fault of zone A from 1s to 20s with its steps;
// rec is the recover step's zone state, errs the steps that failed.
func failoverOps(rec *history.Reconcile, errs map[string]string) []history.Op {
	const s = int64(time.Second)
	nem := func(op history.Op) history.Op {
		op.Type, op.Process, op.Fault, op.FaultID, op.Zone = history.Info, history.NemesisProcess, "failover", 1, "A"
		return op
	}
	ops := []history.Op{nem(history.Op{F: history.FFault, Time: 1 * s})}
	for i, st := range []string{"kill", "failover", "serve", "restart", "recover"} {
		op := nem(history.Op{F: history.FFaultStep, Step: st, StepStart: int64(i+1) * s, Time: int64(i+2) * s, Error: errs[st]})
		if st == "recover" {
			op.Reconcile = rec
		}
		if errs[st] == "skip" {
			continue
		}
		ops = append(ops, op)
	}
	return append(ops, nem(history.Op{F: history.FHeal, Time: 20 * s, HealStart: 5 * s}))
}

func TestFailover(t *testing.T) {
	normal := func(r *history.ReconcileReport) *history.Reconcile {
		return &history.Reconcile{Phase: "normal", Store: "A-f4", Blacklist: 2, Payments: 40, Report: r}
	}
	tests := []struct {
		name    string
		ops     []history.Op
		verdict Verdict
		kinds   []string
		stats   map[string]int
	}{
		{
			name:    "a clean reconciliation is valid",
			ops:     failoverOps(normal(&history.ReconcileReport{Shards: 33, Taken: 3, Kept: 2, Merged: 9}), nil),
			verdict: Valid,
			stats:   map[string]int{"reconciliations": 1, "merged": 9, "voided": 0},
		},
		{
			name: "voided duplicates are information",
			ops: failoverOps(normal(&history.ReconcileReport{Shards: 33, Merged: 9,
				Voided: []history.Voided{{User: 7, Key: "p1-3", Amount: 10, ZoneAmount: 10}}}), nil),
			verdict: Valid,
			stats:   map[string]int{"voided": 1},
		},
		{
			name:    "violations break the guard invariant",
			ops:     failoverOps(normal(&history.ReconcileReport{Shards: 33, Violations: []uint64{1000037, 1000000}}), nil),
			verdict: Invalid,
			kinds:   []string{GuardInvariantViolated},
		},
		{
			name:    "a recover that did not finish",
			ops:     failoverOps(&history.Reconcile{Phase: "reconciling"}, map[string]string{"recover": "zone A is reconciling"}),
			verdict: Invalid,
			kinds:   []string{RecoverIncomplete},
		},
		{
			name:    "no recover step at all",
			ops:     failoverOps(nil, map[string]string{"recover": "skip"}),
			verdict: Invalid,
			kinds:   []string{RecoverIncomplete},
		},
		{
			name:    "a zone never failed over",
			ops:     failoverOps(normal(&history.ReconcileReport{}), map[string]string{"failover": "zone A still normal after 30s"}),
			verdict: Invalid,
			kinds:   []string{FailoverIncomplete},
		},
		{
			name: "another zone failed over too",
			ops: append(failoverOps(normal(&history.ReconcileReport{Shards: 33}), nil),
				history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FFaultStep, Fault: "failover", FaultID: 1,
					Zone: "B", Step: "recover", Time: 21 * int64(time.Second), Reconcile: normal(&history.ReconcileReport{Shards: 33})}),
			verdict: Invalid,
			kinds:   []string{UnexpectedFailover},
		},
		{
			name:    "no failover in the history cannot be judged",
			verdict: Unknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Failover{Faults: []string{"failover"}, Lease: 3 * time.Second}.Check(tt.ops)
			if r.Verdict != tt.verdict {
				t.Fatalf("verdict %s, want %s (%v %v)", r.Verdict, tt.verdict, r.Examples, r.Unchecked)
			}
			if got := r.AnomalyKinds(); !slices.Equal(got, tt.kinds) {
				t.Errorf("anomalies %v, want %v", got, tt.kinds)
			}
			for k, v := range tt.stats {
				if r.Stats[k] != v {
					t.Errorf("stat %s = %d, want %d", k, r.Stats[k], v)
				}
			}
		})
	}
}

// TestFailoverSlowKill: the key checkers take the end of the kill step as
// the turn from the zone's answers to the store's; a kill step longer than
// half the lease leaves the turn unclear, and the verdict unknown.
func TestFailoverSlowKill(t *testing.T) {
	ops := failoverOps(&history.Reconcile{Phase: "normal", Report: &history.ReconcileReport{}}, nil) // a kill of 1s
	if r := (Failover{Faults: []string{"failover"}, Lease: 3 * time.Second}).Check(ops); r.Verdict != Valid {
		t.Fatalf("a 1s kill, a 3s lease: %s %v", r.Verdict, r.Unchecked)
	}
	r := (Failover{Faults: []string{"failover"}, Lease: 1500 * time.Millisecond}).Check(ops)
	if r.Verdict != Unknown || len(r.Unchecked) != 1 || !strings.Contains(r.Unchecked[0], "killing zone A took 1s") {
		t.Fatalf("a 1s kill, a 1.5s lease: %s %v, want unknown", r.Verdict, r.Unchecked)
	}
}

// TestSetAcrossFailover: a key the zone accepted at one index and the
// failover store accepted again (a replay the store could not know) and
// whose final read shows it once, at the index the merge gave it, is valid;
// the same answers without a failover in the history are a double charge.
func TestSetAcrossFailover(t *testing.T) {
	const s = int64(time.Second)
	pay := func(p int, inv, done int64, idx uint64, created bool) []history.Op {
		in := history.Op{Type: history.Invoke, Process: p, F: history.FPay, Workload: "payments", User: 7, Key: "k", Amount: 10, Zone: "A", Time: inv}
		out := in
		out.Type, out.Time, out.Status, out.LogIndex, out.Created = history.OK, done, "accepted", idx, created
		return []history.Op{in, out}
	}
	final := history.Op{Type: history.OK, Process: -3, F: history.FFinalRead, Workload: "payments", User: 7, Zone: "A", Node: "n1", Time: 30 * s,
		Account:  &history.Account{CreditLimit: 1000, Pending: 10, Accepted: 10},
		Payments: []history.Payment{{Key: "k", Amount: 10, Status: "accepted", LogIndex: 900}}}
	build := func(failover bool, pays ...[]history.Op) []history.Op {
		ops := slices.Concat(pays...)
		ops = append(ops, final)
		if failover {
			ops = append(failoverOps(&history.Reconcile{Phase: "normal", Report: &history.ReconcileReport{}}, nil), ops...)
		}
		slices.SortStableFunc(ops, func(a, b history.Op) int { return int(a.Time - b.Time) })
		for i := range ops {
			ops[i].Index = i
		}
		return ops
	}
	// failoverOps kills the zone from 1s to 2s; the store serves from 3s.
	zone := pay(1, 0, 1*s/2, 40, true)          // the zone, before the loss
	store := pay(1, 3*s, 3*s+1e6, 12, true)     // the store, a replay it did not know
	dying := pay(1, 1*s+1e8, 1*s+2e8, 40, true) // the zone, its leader not yet killed
	if r := (Set{Workload: "payments"}).Check(build(true, zone, store)); r.Verdict != Valid {
		t.Fatalf("across a failover: %s %v", r.Verdict, r.Examples)
	}
	if r := (Set{Workload: "payments"}).Check(build(false, zone, store)); !r.Has(DoubleCharge) {
		t.Fatalf("without a failover: %s %v, want a double charge", r.Verdict, r.Examples)
	}
	// The zone's last answers can come while its nodes are being killed,
	// or be read just after: they belong to the zone's era.
	if r := (Set{Workload: "payments"}).Check(build(true, dying, store)); r.Verdict != Valid {
		t.Fatalf("answered by the zone during its kill: %s %v", r.Verdict, r.Examples)
	}
	if r := (Set{Workload: "payments"}).Check(build(true, pay(1, 1*s+1e8, 2*s+1e8, 40, true), store)); r.Verdict != Valid {
		t.Fatalf("the zone's answer read just after its kill: %s %v", r.Verdict, r.Examples)
	}
	// A request sent before the loss and answered once the store served
	// was relayed to the store (a node that took it waited for the new
	// leader): a second index answered by the store is a double charge.
	if r := (Set{Workload: "payments"}).Check(build(true, pay(1, 1*s+5e8, 3*s+5e8, 12, true), pay(1, 3*s+8e8, 3*s+9e8, 13, true))); !r.Has(DoubleCharge) {
		t.Fatalf("sent before the loss, relayed to the store: %s %v, want a double charge", r.Verdict, r.Examples)
	}
	// Two indexes answered while the store served share one era.
	if r := (Set{Workload: "payments"}).Check(build(true, pay(1, 3*s+2e8, 3*s+3e8, 40, true), store)); !r.Has(DoubleCharge) {
		t.Fatalf("two indexes while the store served: %s %v, want a double charge", r.Verdict, r.Examples)
	}
}
