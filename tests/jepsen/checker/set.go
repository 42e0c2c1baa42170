package checker

import (
	"fmt"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Set checks the payments workload as a set of keys (see judgeKeys): every
// answer a client received for a key, from the zone or a failover store,
// agrees with the key's final state (charged exactly once with the amount
// sent, or never charged); a key never answered is charged the amount sent
// or not at all; nothing is listed that was never sent; every replica holds
// what the replicas behind it hold.
//
// Across a zone failover (a fault with fault-step entries in the history),
// a user's log indexes are compared only within one era (see eras): the
// failover store and the merge back give the same key another index, and
// a replay the store answered as new (201) for a key the zone held but had
// not replicated is the hard case reconciliation settles, not a double
// charge; the final reads must still show each key once.
//
// A history without payments, a user without a final read and a replica
// that could not be read leave the verdict unknown.
type Set struct {
	// Workload selects the history entries checked; "" checks all.
	Workload string
}

// Name implements Checker.
func (s Set) Name() string { return "set" }

// Check implements Checker.
func (s Set) Check(ops []history.Op) *Result {
	r := newResult(s.Name())
	writes := collectWrites(ops, history.FPay, s.Workload)
	if len(writes) == 0 {
		r.unknown("no payment was sent: nothing to check")
	}
	finals := finalReads(r, ops, s.Workload)
	writtenUsers := map[uint64]bool{}
	for _, w := range writes {
		writtenUsers[w.user] = true
	}
	for _, u := range users(writtenUsers) {
		if len(finals[u]) == 0 {
			r.unknown("no final read of user %d", u)
		}
	}
	present := judgeKeys(r, writes, finals, failoverEras(ops))
	for _, w := range writes {
		charged, refused := w.answers()
		switch {
		case len(charged) > 0:
			r.Stats["acknowledged"]++
		case len(refused) > 0:
			r.Stats["declined"]++
		case w.maybe:
			r.Stats["unknown"]++
			if present[keyOf{w.user, w.key}] {
				r.Stats["unknown-present"]++
			}
		default:
			r.Stats["failed"]++
		}
	}
	r.Stats["keys"] = len(writes)
	return r
}

func fmtTime(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }
