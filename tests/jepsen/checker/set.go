package checker

import (
	"fmt"
	"sort"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Set checks the payments workload as a set: every acknowledged payment is
// present exactly once, with the result it was acknowledged with, in the
// final read of every node; no key applied twice; nothing present that was
// never sent; replicas at one applied index agree.
//
// Across a zone failover (a fault with fault-step entries in the history),
// a user's log indexes are compared only within one era (see eras): the
// failover store and the merge back give the same key another index, and
// a replay the store answered as new (201) for a key the zone held but had
// not replicated is the hard case reconciliation settles, not a double
// charge; the final reads must still show each key once.
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
	e := failoverEras(ops)
	if n := settleAcrossFailover(writes, e); n > 0 {
		r.Stats["declined-by-store-maybe-applied"] = n
	}
	byKey := map[keyOf]*write{}
	for _, w := range writes {
		byKey[keyOf{w.user, w.key}] = w
		s.checkAttempts(r, w, e)
	}
	finals := finalReads(ops, s.Workload)
	writtenUsers := map[uint64]bool{}
	for _, w := range writes {
		writtenUsers[w.user] = true
	}
	for _, u := range users(writtenUsers) {
		if len(finals[u]) == 0 {
			r.unknown("no final read of user %d", u)
		}
	}
	present := map[keyOf]bool{}
	for _, u := range users(finals) {
		for _, fr := range finals[u] {
			s.checkFinal(r, fr, byKey, writes, present, e)
		}
		checkAgreement(r, finals[u])
	}
	for _, w := range writes {
		switch {
		case w.acked != nil && paid(w.status()):
			r.Stats["acknowledged"]++
		case w.acked != nil:
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

// checkAttempts looks for a key applied twice within its own answers, era
// by era.
func (s Set) checkAttempts(r *Result, w *write, e eras) {
	byEra := map[int][]history.Pair{}
	var order []int
	for _, p := range w.attempts {
		if p.Type() != history.OK {
			continue
		}
		era := e.of(w.zone, p.Complete.Time)
		if e.of(w.zone, p.Invoke.Time) != era {
			// Sent in one era and answered in the next: whose index it
			// carries is unclear.
			continue
		}
		if _, ok := byEra[era]; !ok {
			order = append(order, era)
		}
		byEra[era] = append(byEra[era], p)
	}
	for _, era := range order {
		s.checkEra(r, w, byEra[era])
	}
}

// checkEra checks the ok attempts of w within one era.
func (s Set) checkEra(r *Result, w *write, oks []history.Pair) {
	indexes := map[uint64][]int{}
	var created, statuses []int
	seen := map[string]bool{}
	for _, p := range oks {
		c := p.Complete
		if c.LogIndex != 0 {
			indexes[c.LogIndex] = append(indexes[c.LogIndex], c.Index)
		}
		if c.Created {
			created = append(created, c.Index)
		}
		if !seen[c.Status] {
			seen[c.Status] = true
			statuses = append(statuses, c.Index)
		}
	}
	if len(indexes) > 1 {
		var ix []uint64
		var opIdx []int
		for i, o := range indexes {
			ix = append(ix, i)
			opIdx = append(opIdx, o...)
		}
		sort.Slice(ix, func(i, j int) bool { return ix[i] < ix[j] })
		sort.Ints(opIdx)
		r.add(Anomaly{Kind: DoubleCharge, User: w.user, Key: w.key, Ops: opIdx,
			Detail: fmt.Sprintf("acknowledged as applied at log indexes %v", ix)})
	} else if len(created) > 1 {
		r.add(Anomaly{Kind: DoubleCharge, User: w.user, Key: w.key, Ops: created,
			Detail: fmt.Sprintf("answered 201 Created %d times for one key", len(created))})
	}
	if len(seen) > 1 && seenPaidAndNot(seen) {
		r.add(Anomaly{Kind: StatusFlip, User: w.user, Key: w.key, Ops: statuses,
			Detail: fmt.Sprintf("acknowledged with statuses %v", keys(seen))})
	}
}

func seenPaidAndNot(seen map[string]bool) bool {
	var p, n bool
	for s := range seen {
		if paid(s) {
			p = true
		} else {
			n = true
		}
	}
	return p && n
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkFinal compares one node's final read of one user with the history.
func (s Set) checkFinal(r *Result, fr history.Op, byKey map[keyOf]*write, writes []*write, present map[keyOf]bool, e eras) {
	r.Stats["final-reads"]++
	listed := map[string]history.Payment{}
	var listedPaid int64
	for _, p := range fr.Payments {
		if _, dup := listed[p.Key]; dup {
			r.add(Anomaly{Kind: DoubleCharge, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{fr.Index},
				Detail: "key listed twice"})
		}
		listed[p.Key] = p
		if paid(p.Status) {
			listedPaid += p.Amount
		}
		k := keyOf{fr.User, p.Key}
		w := byKey[k]
		if w == nil {
			r.add(Anomaly{Kind: PhantomWrite, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{fr.Index},
				Detail: fmt.Sprintf("listed (status %s, amount %d) but never sent", p.Status, p.Amount)})
			continue
		}
		if paid(p.Status) {
			present[k] = true
		}
		if w.acked == nil {
			if !w.maybe && paid(p.Status) {
				r.add(Anomaly{Kind: PhantomWrite, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{fr.Index},
					Detail: "listed as charged though every attempt certainly failed"})
			}
			continue
		}
		if paid(w.status()) != paid(p.Status) {
			r.add(Anomaly{Kind: StatusFlip, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{w.acked.Index, fr.Index},
				Detail: fmt.Sprintf("acknowledged %s, final read says %s", w.status(), p.Status)})
		}
		sameEra := e.of(w.zone, w.acked.Time) == e.of(w.zone, fr.Time)
		if w.acked.LogIndex != 0 && p.LogIndex != 0 && w.acked.LogIndex != p.LogIndex && sameEra {
			r.add(Anomaly{Kind: DoubleCharge, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{w.acked.Index, fr.Index},
				Detail: fmt.Sprintf("acknowledged at log index %d, final read shows it applied at %d", w.acked.LogIndex, p.LogIndex)})
		}
		if p.Amount != w.amount {
			r.add(Anomaly{Kind: StatusFlip, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{w.acked.Index, fr.Index},
				Detail: fmt.Sprintf("sent amount %d, final read says %d", w.amount, p.Amount)})
		}
	}
	for _, w := range writes {
		if w.user != fr.User || w.acked == nil || !paid(w.status()) {
			continue
		}
		if _, ok := listed[w.key]; !ok {
			r.add(Anomaly{Kind: LostWrite, User: fr.User, Key: w.key, Node: fr.Node, Ops: []int{w.acked.Index, fr.Index},
				Detail: fmt.Sprintf("acknowledged %s at %s, missing from the final read of %s", w.status(), fmtTime(w.acked.Time), fr.Node)})
		}
	}
	if a := fr.Account; a != nil {
		switch {
		case a.Accepted > listedPaid:
			r.add(Anomaly{Kind: DoubleCharge, User: fr.User, Node: fr.Node, Ops: []int{fr.Index},
				Detail: fmt.Sprintf("account counts %d accepted, its listed payments sum to %d", a.Accepted, listedPaid)})
		case a.Accepted < listedPaid:
			r.add(Anomaly{Kind: LostWrite, User: fr.User, Node: fr.Node, Ops: []int{fr.Index},
				Detail: fmt.Sprintf("account counts %d accepted, its listed payments sum to %d", a.Accepted, listedPaid)})
		}
	}
}

// checkAgreement compares final reads of one user taken at the same applied
// index on different nodes.
func checkAgreement(r *Result, frs []history.Op) {
	for i := range frs {
		for j := i + 1; j < len(frs); j++ {
			a, b := frs[i], frs[j]
			if a.Applied == 0 || a.Applied != b.Applied || a.Node == b.Node {
				continue
			}
			if d := diffFinal(a, b); d != "" {
				r.add(Anomaly{Kind: ReplicaDivergent, User: a.User, Node: a.Node + "," + b.Node, Ops: []int{a.Index, b.Index},
					Detail: fmt.Sprintf("at applied index %d: %s", a.Applied, d)})
			}
		}
	}
}

func diffFinal(a, b history.Op) string {
	if (a.Account == nil) != (b.Account == nil) || (a.Account != nil && *a.Account != *b.Account) {
		return fmt.Sprintf("account %+v on %s, %+v on %s", deref(a.Account), a.Node, deref(b.Account), b.Node)
	}
	if a.Payments == nil || b.Payments == nil {
		return ""
	}
	if len(a.Payments) != len(b.Payments) {
		return fmt.Sprintf("%d payments on %s, %d on %s", len(a.Payments), a.Node, len(b.Payments), b.Node)
	}
	for i := range a.Payments {
		if a.Payments[i] != b.Payments[i] {
			return fmt.Sprintf("payment %+v on %s, %+v on %s", a.Payments[i], a.Node, b.Payments[i], b.Node)
		}
	}
	return ""
}

func deref(a *history.Account) history.Account {
	if a == nil {
		return history.Account{}
	}
	return *a
}

func fmtTime(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }
