package checker

import (
	"testing"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// failoverOf is the nemesis's record of a failover of a live zone: the
// fault begins at start, the store serves from promoted, and the recover
// step ends at recovered with report read then.
func failoverOf(id int, zone string, start, promoted, recovered int64, report []api.ContradictedKey) []history.Op {
	n := history.NemesisProcess
	return []history.Op{
		{Process: n, F: history.FFault, FaultID: id, Zone: zone, Time: start},
		{Process: n, F: history.FFaultStep, FaultID: id, Zone: zone, Step: "failover", StepStart: start + 10, Time: promoted},
		{Process: n, F: history.FFaultStep, FaultID: id, Zone: zone, Step: "recover", StepStart: recovered - 50, Time: recovered,
			Reconcile: &history.Reconcile{Phase: "normal", Report: &history.ReconcileReport{Contradicted: report}}},
		{Process: n, F: history.FHeal, FaultID: id, Time: recovered + 10},
	}
}

// TestDeclinedKeySentAgainAcrossAFailover: a key the zone declined and a
// replay of it the failover store charged is the README's stated limit
// only when that failover's reconciliation report (for the key's zone)
// lists the key as declined by the zone and charged by the store, every
// decline came after the fault began and before the zone was lost, and
// every charge answered a replay while the store served, at the log
// indexes the report gives. Short of any of these it stays a status flip.
func TestDeclinedKeySentAgainAcrossAFailover(t *testing.T) {
	listed := []api.ContradictedKey{{User: 7, Key: "k",
		Zone: api.Decision{Status: api.PaymentDeclined, Amount: 5, Index: 10}, Store: api.Decision{Status: api.PaymentAccepted, Amount: 5, Index: 3}}}
	// Zone C's fault begins at 50, the store serves from 200, and the
	// recover step ends at 400: eras 0 (to 200), 1 (200 to 400), 2.
	history1 := failoverOf(1, "C", 50, 200, 400, listed)
	declined := history.Op{Time: 100, Status: api.PaymentDeclined, LogIndex: 10}
	replayed := history.Op{Time: 300, Status: api.PaymentAccepted, Replay: true, LogIndex: 3}
	at := func(op history.Op, t int64) history.Op { op.Time = t; return op }
	tests := []struct {
		name string
		ops  []history.Op
		zone string
		oks  []history.Op
		flip bool
	}{
		{"the stated limit", history1, "C", []history.Op{declined, replayed}, false},
		{"the stated limit, answers without indexes", history1, "C", []history.Op{{Time: 100, Status: api.PaymentDeclined}, {Time: 300, Status: api.PaymentAccepted, Replay: true}}, false},
		{"no report", failoverOf(1, "C", 50, 200, 400, nil), "C", []history.Op{declined, replayed}, true},
		{"the report says the zone accepted and the store declined", failoverOf(1, "C", 50, 200, 400, []api.ContradictedKey{{User: 7, Key: "k",
			Zone: api.Decision{Status: api.PaymentAccepted, Index: 10}, Store: api.Decision{Status: api.PaymentDeclined, Index: 3}}}), "C", []history.Op{declined, replayed}, true},
		{"the report is another zone's", append(failoverOf(1, "C", 50, 200, 400, nil), failoverOf(2, "B", 50, 200, 400, listed)...), "C", []history.Op{declined, replayed}, true},
		{"charged without a replay", history1, "C", []history.Op{declined, {Time: 300, Status: api.PaymentAccepted, LogIndex: 3}}, true},
		{"a replay charged and a fresh send charged", history1, "C", []history.Op{declined, replayed, {Time: 350, Status: api.PaymentAccepted, LogIndex: 3}}, true},
		{"declined and charged in one era", history1, "C", []history.Op{declined, at(replayed, 150)}, true},
		{"charged by the zone too, then by the store", history1, "C", []history.Op{declined, {Time: 150, Status: api.PaymentAccepted, Replay: true}, replayed}, true},
		{"declined again while the store served", history1, "C", []history.Op{declined, at(declined, 250), at(replayed, 300)}, true},
		{"charged first, declined after", history1, "C", []history.Op{at(replayed, 100), at(declined, 300)}, true},
		{"declined before the fault began", history1, "C", []history.Op{at(declined, 20), replayed}, true},
		// Without a cut before the kill, the fault's entry (at 50) is
		// recorded once the kill (40 to 45) is done: the fault began
		// at the kill.
		{"declined while the zone was being killed", append(history1, history.Op{Process: history.NemesisProcess, F: history.FFaultStep, FaultID: 1, Zone: "C", Step: "kill", StepStart: 40, Time: 45}), "C",
			[]history.Op{at(declined, 42), replayed}, false},
		{"declined before the kill", append(history1, history.Op{Process: history.NemesisProcess, F: history.FFaultStep, FaultID: 1, Zone: "C", Step: "kill", StepStart: 40, Time: 45}), "C",
			[]history.Op{at(declined, 38), replayed}, true},
		{"charged after the report", history1, "C", []history.Op{declined, at(replayed, 450)}, true},
		{"declined while the store served, charged after the report", history1, "C", []history.Op{at(declined, 300), at(replayed, 450)}, true},
		{"charged at another index than the store's", history1, "C", []history.Op{declined, {Time: 300, Status: api.PaymentAccepted, Replay: true, LogIndex: 4}}, true},
		{"declined at another index than the zone's", history1, "C", []history.Op{{Time: 100, Status: api.PaymentDeclined, LogIndex: 11}, replayed}, true},
		// A second failover lists the key; the decline came long before
		// it, with a whole failover and reconciliation between.
		{"declined a failover earlier", append(failoverOf(1, "C", 50, 200, 400, nil), failoverOf(2, "C", 500, 600, 800, listed)...), "C",
			[]history.Op{declined, at(replayed, 700)}, true},
		// A failover that began (at 60) before an earlier one of the same
		// zone ended lists the key: the decline came after it began, but
		// before the earlier failover, two eras before the store's.
		{"declined before an earlier failover of the zone", append(failoverOf(1, "C", 50, 200, 400, nil), failoverOf(2, "C", 60, 600, 800, listed)...), "C",
			[]history.Op{declined, at(replayed, 700)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResult("bank")
			checkAnswers(r, &write{user: 7, key: "k", zone: tt.zone, oks: tt.oks}, failoverEras(tt.ops))
			flipped := r.Anomalies[StatusFlip] > 0
			if flipped != tt.flip {
				t.Fatalf("status flip reported: %v, want %v (anomalies %v, notes %v)", flipped, tt.flip, r.Anomalies, r.Notes)
			}
		})
	}
}
