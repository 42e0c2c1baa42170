package fsm

import (
	"fmt"
	"slices"

	"github.com/rzonedb/rzone/internal/api"
)

// post books accepted payments into the bill of their cycle, moving their
// amounts from pending to used. A payment already posted (or declined) is
// skipped, and its index entry dropped, so a post proposed twice books once. Each account and bill the
// batch touches is read and written once, in key order.
func (a *applier) post(c *Command) Result {
	payments := a.tx.Bucket(bucketPayments)
	accounts := a.tx.Bucket(bucketAccounts)
	bills := a.tx.Bucket(bucketBills)
	unposted := a.tx.Bucket(bucketUnposted)
	accts := map[uint64]*accountRec{}
	billsOf := map[string]*billRec{}
	n := 0
	for _, ref := range c.Posts {
		pk := userKey(ref.User, ref.Key)
		var p paymentRec
		if !get(payments, pk, &p) {
			continue
		}
		if p.Status != api.PaymentAccepted {
			// Posted already, or left accepted by another path: an index
			// entry left for it goes, so it cannot hold up the poster.
			if err := unposted.Delete(unpostedKey(p.Index, ref.User, ref.Key)); err != nil {
				panic(fmt.Sprintf("fsm: unindex payment: %v", err))
			}
			continue
		}
		if err := unposted.Delete(unpostedKey(p.Index, ref.User, ref.Key)); err != nil {
			panic(fmt.Sprintf("fsm: unindex payment: %v", err))
		}
		if ok, _ := owns(a.tx, ref.User); !ok {
			continue // the shard moved away; its new zone posts the payment
		}
		if isolated(a.tx, ref.User) {
			continue // a blacklisted account's payments are posted after reconciliation
		}
		acc := accts[ref.User]
		if acc == nil {
			acc = new(accountRec)
			if !get(accounts, be64(ref.User), acc) {
				panic(fmt.Sprintf("fsm: payment %d/%q has no account", ref.User, ref.Key))
			}
			accts[ref.User] = acc
		}
		bk := string(billKey(ref.User, CycleOf(p.Created)))
		bill := billsOf[bk]
		if bill == nil {
			bill = new(billRec)
			get(bills, []byte(bk), bill)
			billsOf[bk] = bill
		}
		bill.Principal += p.Amount
		bill.Payments++
		bill.Updated = c.Time
		acc.Pending -= p.Amount
		acc.Used += p.Amount
		acc.Updated = c.Time
		acc.LastIndex = a.index
		p.Status = api.PaymentPosted
		p.Posted = c.Time
		put(payments, pk, p)
		n++
	}
	users := make([]uint64, 0, len(accts))
	for u := range accts {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		accts[u].checkMoney(u) // a reconciled account may be over its limit: posting moves credit, adds none
		put(accounts, be64(u), accts[u])
	}
	keys := make([]string, 0, len(billsOf))
	for k := range billsOf {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		put(bills, []byte(k), billsOf[k])
	}
	return Result{Code: OK, Posted: n}
}
