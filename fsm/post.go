package fsm

import (
	"fmt"

	"github.com/rzonedb/rzone/internal/api"
)

// post books accepted payments into the bill of their cycle, moving their
// amounts from pending to used. A payment already posted (or declined) is
// skipped, so a post proposed twice books once.
func (a *applier) post(c *Command) Result {
	payments := a.tx.Bucket(bucketPayments)
	accounts := a.tx.Bucket(bucketAccounts)
	bills := a.tx.Bucket(bucketBills)
	unposted := a.tx.Bucket(bucketUnposted)
	n := 0
	for _, ref := range c.Posts {
		pk := userKey(ref.User, ref.Key)
		var p paymentRec
		if !get(payments, pk, &p) || p.Status != api.PaymentAccepted {
			continue
		}
		if ok, _ := owns(a.tx, ref.User); !ok {
			// The shard moved away; its new zone posts the payment.
			if err := unposted.Delete(unpostedKey(p.Index, ref.User, ref.Key)); err != nil {
				panic(fmt.Sprintf("fsm: unindex moved payment: %v", err))
			}
			continue
		}
		ak := be64(ref.User)
		var acc accountRec
		if !get(accounts, ak, &acc) {
			panic(fmt.Sprintf("fsm: payment %d/%q has no account", ref.User, ref.Key))
		}
		cycle := CycleOf(p.Created)
		bk := billKey(ref.User, cycle)
		var bill billRec
		get(bills, bk, &bill)
		bill.Principal += p.Amount
		bill.Payments++
		bill.Updated = c.Time
		acc.Pending -= p.Amount
		acc.Used += p.Amount
		acc.Updated = c.Time
		acc.LastIndex = a.index
		acc.checkIdentity(ref.User)
		p.Status = api.PaymentPosted
		p.Posted = c.Time
		put(payments, pk, p)
		put(accounts, ak, acc)
		put(bills, bk, bill)
		if err := unposted.Delete(unpostedKey(p.Index, ref.User, ref.Key)); err != nil {
			panic(fmt.Sprintf("fsm: unindex posted payment: %v", err))
		}
		n++
	}
	return Result{Code: OK, Posted: n}
}
