package checker

import (
	"testing"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// TestDeclinedKeySentAgainAcrossAFailover: a key the zone declined and a
// replay of it the failover store charged is the README's stated limit
// only when reconciliation listed the key as contradicted, the decline
// came in the era before the charge, and the charge answered a replay;
// short of any of the three it stays a status flip.
func TestDeclinedKeySentAgainAcrossAFailover(t *testing.T) {
	declined := history.Op{Index: 1, Time: 100, Status: "declined"}
	replayCharged := history.Op{Index: 2, Time: 300, Status: "accepted", Replay: true}
	era := eras{bounds: map[string][]int64{"C": {200, 400}}, contradicted: map[keyOf]bool{{7, "k"}: true}}
	tests := []struct {
		name string
		e    eras
		oks  []history.Op
		flip bool
	}{
		{"the stated limit", era, []history.Op{declined, replayCharged}, false},
		{"not listed as contradicted", eras{bounds: era.bounds}, []history.Op{declined, replayCharged}, true},
		{"charged without a replay", era, []history.Op{declined, {Index: 2, Time: 300, Status: "accepted"}}, true},
		{"declined and charged in one era", era, []history.Op{declined, {Index: 2, Time: 150, Status: "accepted", Replay: true}}, true},
		{"charged first, declined after", era, []history.Op{{Index: 1, Time: 100, Status: "accepted", Replay: true}, {Index: 2, Time: 300, Status: "declined"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResult("bank")
			checkAnswers(r, &write{user: 7, key: "k", zone: "C", oks: tt.oks}, tt.e)
			flipped := r.Anomalies[StatusFlip] > 0
			if flipped != tt.flip {
				t.Fatalf("status flip reported: %v, want %v (anomalies %v, notes %v)", flipped, tt.flip, r.Anomalies, r.Notes)
			}
		})
	}
}
