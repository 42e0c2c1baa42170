package nemesis

import (
	"reflect"
	"testing"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

func TestReconcileOfCopiesTheReport(t *testing.T) {
	zs := &client.ZoneStatus{Phase: "normal", Ready: true, Failover: &client.ZoneFailover{
		Store: "store-A", Blacklist: 2, Payments: 3, Recovered: "2026-01-01T00:00:00Z",
		Report: &client.ReconcileReport{Shards: 4, Taken: 1, Kept: 2, Merged: 3, DurationMs: 5,
			Voided:       []client.VoidedPayment{{User: 1, Key: "k", Amount: 10, ZoneAmount: 10}},
			Contradicted: []client.ContradictedKey{{User: 2, Key: "c", Zone: client.Decision{Status: "accepted", Amount: 7, Index: 8}, Store: client.Decision{Status: "declined", Amount: 7, Index: 9}}},
			Violations:   []uint64{6}, Unmerged: 1},
	}}
	got := reconcileOf(zs)
	want := &history.ReconcileReport{Shards: 4, Taken: 1, Kept: 2, Merged: 3, DurationMs: 5, Unmerged: 1, Violations: []uint64{6}}
	want.Voided = append(want.Voided, history.Voided{User: 1, Key: "k", Amount: 10, ZoneAmount: 10})
	if got.Report == nil || got.Store != "store-A" || got.Blacklist != 2 || got.Payments != 3 {
		t.Fatalf("reconcile: %+v", got)
	}
	if len(got.Report.Contradicted) != 1 || got.Report.Contradicted[0].Store.Status != "declined" || got.Report.Contradicted[0].Zone.Index != 8 {
		t.Fatalf("contradicted: %+v", got.Report.Contradicted)
	}
	got.Report.Contradicted = nil
	if !reflect.DeepEqual(got.Report, want) {
		t.Fatalf("report: %+v, want %+v", got.Report, want)
	}
}
