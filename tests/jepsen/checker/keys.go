package checker

import (
	"fmt"
	"slices"
	"sort"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// judgeKeys judges every payment key against the final state of its user
// (guarantees 1, 2 and 8 of docs/DESIGN.md), by every answer a client received
// for it, in any era, from the zone or a failover store:
//
//   - a key answered charged (accepted, posted) is listed once, charged,
//     with the amount sent; one also answered declined is a status flip
//     whatever the final state says;
//   - a key answered declined only is never charged;
//   - a key never answered is, if charged, charged the amount sent, and
//     is charged only if some attempt may have applied;
//   - within one failover era, a key's answers and its listing name one
//     log index.
//
// The final state of a user is its final reads at the highest applied
// index (all of them when none says its index); the reads of other
// replicas are compared with it by checkReplicas. It returns the keys
// listed as charged.
func judgeKeys(r *Result, writes []*write, finals map[uint64][]history.Op, e eras) map[keyOf]bool {
	byKey := map[keyOf]*write{}
	byUser := map[uint64][]*write{}
	for _, w := range writes {
		byKey[keyOf{w.user, w.key}] = w
		byUser[w.user] = append(byUser[w.user], w)
		checkAnswers(r, w, e)
	}
	present := map[keyOf]bool{}
	for _, u := range users(finals) {
		for _, fr := range latest(finals[u]) {
			checkFinal(r, fr, byKey, byUser[u], present, e)
		}
		checkReplicas(r, finals[u])
	}
	return present
}

// checkAnswers looks at the answers of one key alone: charged and
// declined both, or applied twice within one era.
func checkAnswers(r *Result, w *write, e eras) {
	charged, refused := w.answers()
	if len(charged) > 0 && len(refused) > 0 && e.declinedThenReplayed(w) {
		r.Notes = append(r.Notes, fmt.Sprintf("user %d key %s: declined by the zone (ops %v), sent again and charged by the failover store (ops %v), listed as contradicted by reconciliation: the stated limit for a declined key sent again", w.user, w.key, refused, charged))
	} else if len(charged) > 0 && len(refused) > 0 {
		r.add(Anomaly{Kind: StatusFlip, User: w.user, Key: w.key, Ops: slices.Concat(charged, refused),
			Detail: fmt.Sprintf("answered charged (ops %v) and declined (ops %v)", charged, refused)})
	}
	byEra := map[int][]history.Pair{}
	var order []int
	for _, p := range w.attempts {
		if p.Type() != history.OK {
			continue
		}
		era := e.of(w.zone, p.Complete.Time)
		if e.duringMerge(w.zone, p.Invoke.Time) || e.duringMerge(w.zone, p.Complete.Time) {
			// Answered while the zone was reconciled: by the store or by
			// the zone, whose index it carries is unclear.
			continue
		}
		if e.of(w.zone, p.Invoke.Time) != era && !e.storeOnly(w.zone, p.Complete.Time) {
			// Sent in one era and answered around the turn to the next (a
			// reply the dying zone sent, read late): whose index it
			// carries is unclear. Answered once the store served, the
			// answer can only be the store's (a node that took the request
			// before the loss relayed it to the store).
			continue
		}
		if _, ok := byEra[era]; !ok {
			order = append(order, era)
		}
		byEra[era] = append(byEra[era], p)
	}
	for _, era := range order {
		checkEra(r, w, byEra[era])
	}
}

// checkEra checks the ok attempts of w within one era: one log index, one
// 201.
func checkEra(r *Result, w *write, oks []history.Pair) {
	indexes := map[uint64][]int{}
	var created []int
	for _, p := range oks {
		c := p.Complete
		if c.LogIndex != 0 {
			indexes[c.LogIndex] = append(indexes[c.LogIndex], c.Index)
		}
		if c.Created {
			created = append(created, c.Index)
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
}

// checkFinal compares one final read of one user, a read of its final
// state, with every answer its keys received.
func checkFinal(r *Result, fr history.Op, byKey map[keyOf]*write, mine []*write, present map[keyOf]bool, e eras) {
	r.Stats["final-reads"]++
	listed := map[string]history.Payment{}
	var listedPaid int64
	for _, p := range fr.Payments {
		if _, dup := listed[p.Key]; dup {
			r.add(Anomaly{Kind: DoubleCharge, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{fr.Index},
				Detail: "key listed twice"})
		}
		listed[p.Key] = p
		charges := paid(p.Status)
		if charges {
			listedPaid += p.Amount
		}
		k := keyOf{fr.User, p.Key}
		w := byKey[k]
		if w == nil {
			r.add(Anomaly{Kind: PhantomWrite, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{fr.Index},
				Detail: fmt.Sprintf("listed (status %s, amount %d) but never sent", p.Status, p.Amount)})
			continue
		}
		if charges {
			present[k] = true
		}
		charged, refused := w.answers()
		at := slices.Concat(charged, refused, []int{fr.Index})
		switch {
		case charges && len(charged) == 0 && len(refused) > 0:
			r.add(Anomaly{Kind: StatusFlip, User: fr.User, Key: p.Key, Node: fr.Node, Ops: at,
				Detail: fmt.Sprintf("answered declined, yet the final read of %s says %s: charged %d", fr.Node, p.Status, p.Amount)})
		case charges && len(charged) == 0 && !w.maybe:
			r.add(Anomaly{Kind: PhantomWrite, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{fr.Index},
				Detail: "listed as charged though every attempt certainly failed"})
		case !charges && len(charged) > 0:
			r.add(Anomaly{Kind: StatusFlip, User: fr.User, Key: p.Key, Node: fr.Node, Ops: at,
				Detail: fmt.Sprintf("answered charged, the final read of %s says %s", fr.Node, p.Status)})
		}
		if charges && p.Amount != w.amount {
			r.add(Anomaly{Kind: WrongAmount, User: fr.User, Key: p.Key, Node: fr.Node, Ops: at,
				Detail: fmt.Sprintf("sent amount %d, the final read of %s charges %d", w.amount, fr.Node, p.Amount)})
		}
		for _, c := range w.oks {
			if !paid(c.Status) || c.LogIndex == 0 || p.LogIndex == 0 || c.LogIndex == p.LogIndex {
				continue
			}
			if e.of(w.zone, c.Time) == e.of(w.zone, fr.Time) {
				r.add(Anomaly{Kind: DoubleCharge, User: fr.User, Key: p.Key, Node: fr.Node, Ops: []int{c.Index, fr.Index},
					Detail: fmt.Sprintf("acknowledged at log index %d, final read shows it applied at %d", c.LogIndex, p.LogIndex)})
				break
			}
		}
	}
	for _, w := range mine {
		charged, _ := w.answers()
		if len(charged) == 0 {
			continue
		}
		if _, ok := listed[w.key]; !ok {
			r.add(Anomaly{Kind: LostWrite, User: fr.User, Key: w.key, Node: fr.Node, Ops: []int{charged[0], fr.Index},
				Detail: fmt.Sprintf("answered charged, missing from the final read of %s", fr.Node)})
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

// latest returns the final reads of one user at the highest applied index:
// its final state. Reads that do not say their index (Applied 0) are all
// taken.
func latest(frs []history.Op) []history.Op {
	var top uint64
	for _, fr := range frs {
		top = max(top, fr.Applied)
	}
	if top == 0 {
		return frs
	}
	var out []history.Op
	for _, fr := range frs {
		if fr.Applied == top {
			out = append(out, fr)
		}
	}
	return out
}

// checkReplicas compares the final reads of one user on different nodes:
// at one applied index they agree; payments being insert-only, a replica
// at a higher index holds every payment of one at a lower index, with its
// amount and a status no earlier (accepted may have become posted), and
// counts no less accepted or repaid.
func checkReplicas(r *Result, frs []history.Op) {
	for i := range frs {
		for j := i + 1; j < len(frs); j++ {
			a, b := frs[i], frs[j]
			if a.Node == b.Node || a.Applied == 0 || b.Applied == 0 {
				continue
			}
			r.Stats["replica-pairs"]++
			if a.Applied > b.Applied {
				a, b = b, a
			}
			var d string
			if a.Applied == b.Applied {
				d = diffFinal(a, b)
			} else {
				d = diffBehind(a, b)
			}
			if d != "" {
				r.add(Anomaly{Kind: ReplicaDivergent, User: a.User, Node: a.Node + "," + b.Node, Ops: []int{a.Index, b.Index},
					Detail: fmt.Sprintf("at applied indexes %d and %d: %s", a.Applied, b.Applied, d)})
			}
		}
	}
}

// diffFinal describes how two reads at one applied index differ, "" when
// they agree.
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

// diffBehind describes what the read ahead (at a higher applied index)
// lacks of the read behind, "" when it holds it all.
func diffBehind(behind, ahead history.Op) string {
	if x, y := behind.Account, ahead.Account; x != nil && y != nil && (x.Accepted > y.Accepted || x.Repaid > y.Repaid) {
		return fmt.Sprintf("%s, behind, counts accepted %d repaid %d; %s, ahead, %d and %d", behind.Node, x.Accepted, x.Repaid, ahead.Node, y.Accepted, y.Repaid)
	}
	if behind.Payments == nil || ahead.Payments == nil {
		return ""
	}
	has := map[string]history.Payment{}
	for _, p := range ahead.Payments {
		has[p.Key] = p
	}
	for _, p := range behind.Payments {
		q, ok := has[p.Key]
		switch {
		case !ok:
			return fmt.Sprintf("payment %s (%d, %s) on %s, behind, is missing on %s, ahead", p.Key, p.Amount, p.Status, behind.Node, ahead.Node)
		case q.Amount != p.Amount || !(q.Status == p.Status || (p.Status == "accepted" && q.Status == "posted")):
			return fmt.Sprintf("payment %+v on %s, behind, is %+v on %s, ahead", p, behind.Node, q, ahead.Node)
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
