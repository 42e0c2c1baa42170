package checker

import (
	"fmt"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Bank checks money, over every workload: each account read obeys
// used + pending == accepted − repaid with nothing negative and nothing owed
// above the limit; the final totals of each account lie between what the
// clients know was charged (or repaid) and what may have been; replicas at
// one applied index agree.
type Bank struct {
	// Workload selects the history entries checked; "" checks all.
	Workload string
	// AllowOverLimit skips the limit check everywhere.
	AllowOverLimit bool
}

// Across a zone failover the limit is not checked on the zone's users from
// the failover's start on: the failover store's credit check starts from
// the replica's state (it cannot see the lost zone's last writes), so the
// merge back may leave a blacklisted account owing more than its limit. A
// key that the store declined after an attempt that may have applied in
// the zone counts as possibly applied (see settleAcrossFailover).

// Name implements Checker.
func (b Bank) Name() string { return "bank" }

// Check implements Checker.
func (b Bank) Check(ops []history.Op) *Result {
	r := newResult(b.Name())
	e := failoverEras(ops)
	for _, op := range ops {
		if op.Type != history.OK || op.Account == nil || (b.Workload != "" && op.Workload != b.Workload) {
			continue
		}
		if op.F != history.FRead && op.F != history.FFinalRead {
			continue
		}
		r.Stats["reads"]++
		b.checkIdentity(r, op, e.failedOver(op.Zone, op.Time))
	}
	pays := collectWrites(ops, history.FPay, b.Workload)
	repays := collectWrites(ops, history.FRepay, b.Workload)
	if n := settleAcrossFailover(pays, e) + settleAcrossFailover(repays, e); n > 0 {
		r.Stats["refused-by-store-maybe-applied"] = n
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
		switch {
		case w.acked != nil && paid(w.status()):
			bd.accMin += w.amount
			bd.accMax += w.amount
		case w.acked == nil && w.maybe:
			bd.accMax += w.amount
		}
	}
	for _, w := range repays {
		bd := get(w.user)
		switch {
		case w.acked != nil && w.status() == "applied":
			bd.repMin += w.amount
			bd.repMax += w.amount
		case w.acked == nil && w.maybe:
			bd.repMax += w.amount
		}
	}
	finals := finalReads(ops, b.Workload)
	for _, u := range users(per) {
		if len(finals[u]) == 0 {
			r.unknown("no final read of user %d", u)
		}
	}
	for _, u := range users(finals) {
		bd := get(u)
		for _, fr := range finals[u] {
			a := fr.Account
			if a == nil {
				continue
			}
			r.Stats["final-reads"]++
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
		checkAgreement(r, finals[u])
	}
	r.Stats["accounts"] = len(per)
	return r
}

// checkIdentity checks one account read; standIn says the user's zone has
// been failed over by then, so the limit is not checked.
func (b Bank) checkIdentity(r *Result, op history.Op, standIn bool) {
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
	if owed > a.CreditLimit && (b.AllowOverLimit || standIn) {
		r.Stats["over-limit-allowed"]++
	} else if owed > a.CreditLimit {
		r.add(Anomaly{Kind: OverLimit, User: op.User, Node: op.Node, Ops: []int{op.Index},
			Detail: fmt.Sprintf("%s: owes %d over a limit of %d", at, owed, a.CreditLimit)})
	}
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
