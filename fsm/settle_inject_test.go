//go:build faultinject

package fsm

import (
	"strings"
	"testing"

	"github.com/rzonedb/rzone/internal/inject"
)

// TestZoneWinsMergeIsCaught plants the zone-wins-merge bug (reconciliation
// keeps the zone's decision on a key the failover store decided otherwise)
// and shows that the checks of TestReconcileKeepsTheStoresAnswer see it:
// a key the store accepted ends declined, a key it declined ends charged.
func TestZoneWinsMergeIsCaught(t *testing.T) {
	if err := inject.Set(inject.ZoneWinsMerge); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inject.Set("") })
	zone, reports := settleCase(t)
	problems := strings.Join(settleProblems(zone, reports), "\n")
	for _, want := range []string{"1/k-declined is declined", "2/k-accepted is accepted", "3/k-posted is posted", "contradicted keys"} {
		if !strings.Contains(problems, want) {
			t.Errorf("planted zone-wins-merge: the checks missed %q; they said:\n%s", want, problems)
		}
	}
}
