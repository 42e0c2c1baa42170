package checker

import (
	"fmt"
	"slices"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Faults checks that every fault kind a run asked for was applied at least
// once: a run whose nemesis never managed a requested fault tested nothing
// about it, so its verdict is unknown, never valid. It finds no anomaly.
type Faults struct {
	// Kinds are the fault kinds the run requested.
	Kinds []string
}

// Name implements Checker.
func (Faults) Name() string { return "faults" }

// Check implements Checker.
func (f Faults) Check(ops []history.Op) *Result {
	r := newResult(f.Name())
	if len(f.Kinds) == 0 {
		r.unknown("no fault was requested: nothing to check")
		return r
	}
	applied := map[string]int{}
	failed := map[string][]string{}
	for _, w := range history.Windows(ops) {
		if w.Error != "" {
			failed[w.Fault] = append(failed[w.Fault], w.Error)
			continue
		}
		applied[w.Fault]++
		if w.HealError != "" {
			r.Notes = append(r.Notes, fmt.Sprintf("fault #%d (%s) could not be undone: %s", w.ID, w.Fault, w.HealError))
		}
	}
	for _, k := range slices.Sorted(slices.Values(f.Kinds)) {
		r.Stats[k] = applied[k]
		if applied[k] == 0 {
			r.unknown("fault %s was requested and never applied (%d attempts failed: %v)", k, len(failed[k]), failed[k])
		}
	}
	return r
}
