package checker

import (
	"fmt"
	"slices"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Bank checks money, over every workload: each account read obeys
// used + pending == accepted − repaid with nothing negative and nothing owed
// above the limit; each payment key agrees with every answer its clients
// received (judgeKeys: the final reads must list the payments); the final
// totals of each account lie between what the clients know was charged (or
// repaid) and what may have been; every replica holds what the replicas
// behind it hold.
//
// Over the limit is allowed only for an account merged back from a failover
// store: the store's credit check starts from the replica's state (it
// cannot see the lost zone's last writes), so the merge back may leave an
// account owing more than its limit. The allowance covers the accounts
// whose payments the store may have taken (some attempt sent between the
// zone's loss and its recover step that was accepted or may have been),
// from the failover's start, and ends with the reconciliation; after it, an
// account may stay over its limit only until the zone accepts a new
// payment of it.
type Bank struct {
	// Workload selects the history entries checked; "" checks all.
	Workload string
}

// Name implements Checker.
func (b Bank) Name() string { return "bank" }

// Check implements Checker.
func (b Bank) Check(ops []history.Op) *Result {
	r := newResult(b.Name())
	e := failoverEras(ops)
	pays := collectWrites(ops, history.FPay, b.Workload)
	repays := collectWrites(ops, history.FRepay, b.Workload)
	over := mergedAccounts(e, pays)
	for _, op := range ops {
		if op.Type != history.OK || op.Account == nil || (b.Workload != "" && op.Workload != b.Workload) {
			continue
		}
		if op.F != history.FRead && op.F != history.FFinalRead {
			continue
		}
		r.Stats["reads"]++
		b.checkIdentity(r, op, over.allows(op.User, op.Zone, op.Time))
	}
	if r.Stats["reads"] == 0 && len(pays)+len(repays) == 0 {
		r.unknown("no account was read or written: nothing to check")
	}
	type bounds struct{ accMin, accMax, repMin, repMax int64 }
	per := map[uint64]*bounds{}
	get := func(u uint64) *bounds {
		if per[u] == nil {
			per[u] = &bounds{}
		}
		return per[u]
	}
	for _, w := range pays {
		bd := get(w.user)
		charged, refused := w.answers()
		switch {
		case len(charged) > 0 && len(refused) == 0:
			bd.accMin += w.amount
			bd.accMax += w.amount
		case len(charged) > 0 || (len(refused) == 0 && w.maybe):
			bd.accMax += w.amount
		}
	}
	for _, w := range repays {
		bd := get(w.user)
		var applied, refused bool
		for _, c := range w.oks {
			applied = applied || c.Status == "applied"
			refused = refused || c.Status != "applied"
		}
		switch {
		case applied && !refused:
			bd.repMin += w.amount
			bd.repMax += w.amount
		case applied || (!refused && w.maybe):
			bd.repMax += w.amount
		}
	}
	finals := finalReads(r, ops, b.Workload)
	for _, u := range users(per) {
		if len(finals[u]) == 0 {
			r.unknown("no final read of user %d", u)
		}
	}
	listed := map[uint64][]history.Op{}
	var unlisted []uint64
	for _, u := range users(finals) {
		bd := get(u)
		if slices.ContainsFunc(finals[u], func(fr history.Op) bool { return fr.Payments == nil }) {
			unlisted = append(unlisted, u)
		} else {
			listed[u] = finals[u]
		}
		for _, fr := range finals[u] {
			a := fr.Account
			if a == nil {
				continue
			}
			check := func(name string, got, lo, hi int64) {
				if got < lo {
					r.add(Anomaly{Kind: MoneyLost, User: u, Node: fr.Node, Ops: []int{fr.Index},
						Detail: fmt.Sprintf("%s is %d, below the %d acknowledged", name, got, lo)})
				}
				if got > hi {
					r.add(Anomaly{Kind: MoneyCreated, User: u, Node: fr.Node, Ops: []int{fr.Index},
						Detail: fmt.Sprintf("%s is %d, above the %d that may have applied", name, got, hi)})
				}
			}
			check("accepted", a.Accepted, bd.accMin, bd.accMax)
			check("repaid", a.Repaid, bd.repMin, bd.repMax)
		}
	}
	if len(unlisted) > 0 {
		r.unknown("final reads of users %v list no payments: their keys cannot be judged", unlisted)
	}
	judgeKeys(r, pays, listed, e)
	r.Stats["accounts"] = len(per)
	return r
}

// checkIdentity checks one account read; overOK says the account may owe
// more than its limit (see mergedAccounts).
func (b Bank) checkIdentity(r *Result, op history.Op, overOK bool) {
	a := op.Account
	owed := a.Used + a.Pending
	net := a.Accepted - a.Repaid
	at := fmt.Sprintf("%s (%s) at %s", op.F, readMode(op), fmtTime(op.Time))
	switch {
	case owed > net:
		r.add(Anomaly{Kind: MoneyCreated, User: op.User, Node: op.Node, Ops: []int{op.Index},
			Detail: fmt.Sprintf("%s: used %d + pending %d = %d > accepted %d − repaid %d = %d", at, a.Used, a.Pending, owed, a.Accepted, a.Repaid, net)})
	case owed < net:
		r.add(Anomaly{Kind: MoneyLost, User: op.User, Node: op.Node, Ops: []int{op.Index},
			Detail: fmt.Sprintf("%s: used %d + pending %d = %d < accepted %d − repaid %d = %d", at, a.Used, a.Pending, owed, a.Accepted, a.Repaid, net)})
	}
	if a.Used < 0 || a.Pending < 0 || a.Accepted < 0 || a.Repaid < 0 || a.CreditLimit < 0 {
		r.add(Anomaly{Kind: NegativeBalance, User: op.User, Node: op.Node, Ops: []int{op.Index},
			Detail: fmt.Sprintf("%s: %+v", at, *a)})
	}
	switch {
	case owed <= a.CreditLimit:
	case overOK:
		r.Stats["over-limit-allowed"]++
	default:
		r.add(Anomaly{Kind: OverLimit, User: op.User, Node: op.Node, Ops: []int{op.Index},
			Detail: fmt.Sprintf("%s: owes %d over a limit of %d", at, owed, a.CreditLimit)})
	}
}

// merged is, per zone, each failover of the zone with the accounts merged
// back from its store.
type merged map[string][]standIn

// standIn is one failover of a zone: from start (the zone's loss) to end
// (its recover step), the accounts whose payments the store may have
// taken, and when each account's next payment was accepted after end.
type standIn struct {
	start, end int64
	users      map[uint64]bool
	// nextPay is, per account, the completion time of the first payment
	// the zone accepted that was sent after end.
	nextPay map[uint64]int64
}

// mergedAccounts finds the accounts each failover store may have charged.
func mergedAccounts(e eras, pays []*write) merged {
	out := merged{}
	for z, b := range e.bounds {
		for i := 0; i+1 < len(b); i += 2 {
			out[z] = append(out[z], standIn{start: b[i], end: b[i+1], users: map[uint64]bool{}, nextPay: map[uint64]int64{}})
		}
	}
	for _, w := range pays {
		// When the key was first answered paid: a later answer is a
		// replay of that payment, not a new one.
		firstPaid := int64(-1)
		for _, p := range w.attempts {
			if p.Type() == history.OK && paid(p.Complete.Status) && (firstPaid < 0 || p.Complete.Time < firstPaid) {
				firstPaid = p.Complete.Time
			}
		}
		for i := range out[w.zone] {
			s := &out[w.zone][i]
			for _, p := range w.attempts {
				in := p.Invoke.Time
				switch {
				case in >= s.start && in <= s.end && (p.Type() == history.Info || (p.Type() == history.OK && paid(p.Complete.Status))):
					s.users[w.user] = true
				case in > s.end && p.Type() == history.OK && paid(p.Complete.Status) && firstPaid > s.end:
					// A new payment after the era (a replay of a key
					// paid by the era's end takes no new credit).
					if t, ok := s.nextPay[w.user]; !ok || p.Complete.Time < t {
						s.nextPay[w.user] = p.Complete.Time
					}
				}
			}
		}
	}
	return out
}

// allows reports whether user of zone may owe more than its limit at
// history time t.
func (m merged) allows(user uint64, zone string, t int64) bool {
	for _, s := range m[zone] {
		if !s.users[user] || t < s.start {
			continue
		}
		if next, ok := s.nextPay[user]; t <= s.end || !ok || t < next {
			return true
		}
	}
	return false
}

func readMode(op history.Op) string {
	mode := "linearizable"
	if op.Stale {
		mode = "stale"
	}
	if op.Node != "" {
		mode += " on " + op.Node
	}
	return mode
}
