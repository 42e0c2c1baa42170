package fsm

import (
	"fmt"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/internal/money"
)

// pay inserts a payment under its key. The key's first decision (accepted or
// declined for credit) is final: the same key and parameters replay it, the
// same key with other parameters is a conflict.
func (a *applier) pay(c *Command) Result {
	if err := validPay(c); err != "" {
		return Result{Code: Invalid, Msg: err}
	}
	if ok, epoch := owns(a.tx, c.User); !ok {
		return wrongZone(c.User, epoch)
	}
	payments := a.tx.Bucket(bucketPayments)
	pk := userKey(c.User, c.Key)
	var p paymentRec
	if get(payments, pk, &p) && !inject.On(inject.SkipIdempotency) {
		if p.Amount != c.Amount || p.Merchant != c.Merchant {
			return Result{Code: Conflict, Msg: fmt.Sprintf(
				"key %q was used for a payment of %d at %q", c.Key, p.Amount, p.Merchant)}
		}
		r := Result{Code: OK, Replay: true, Payment: p.view(c.User, c.Key)}
		if p.Status == api.PaymentDeclined {
			r.Code = InsufficientCredit
			r.Msg = fmt.Sprintf("payment %q was declined: amount %s exceeded available credit", c.Key, money.Format(p.Amount))
		}
		return r
	}
	accounts := a.tx.Bucket(bucketAccounts)
	ak := be64(c.User)
	var acc accountRec
	if !get(accounts, ak, &acc) {
		if isolated(a.tx, c.User) {
			// A failover store without the account of a blacklisted
			// user: the lost zone made it (and may have taken this very
			// key) after the store's seed. "Not found" would contradict
			// what the zone acknowledged; the payment waits.
			fr, _ := failoverMode(a.tx)
			return Result{Code: Isolated, Msg: fmt.Sprintf(
				"payment %q for account %d is not decided while zone %s is failed over: the account is not in the failover store, and its latest state is in zone %s; retry it after reconciliation (nothing was charged)",
				c.Key, c.User, fr.Zone, fr.Zone)}
		}
		return Result{Code: NotFound, Msg: fmt.Sprintf("account %d not found", c.User)}
	}
	p = paymentRec{Amount: c.Amount, Merchant: c.Merchant, Created: c.Time, Index: a.index}
	avail := acc.available()
	if refused := a.refuseUndecidable(c, &acc, avail); refused != nil {
		return *refused
	}
	if c.Amount > avail {
		p.Status = api.PaymentDeclined
		put(payments, pk, p)
		a.storeDecided(c.User, c.Key)
		return Result{Code: InsufficientCredit, Payment: p.view(c.User, c.Key),
			Msg: fmt.Sprintf("amount %s exceeds available credit %s", money.Format(c.Amount), money.Format(avail))}
	}
	if msg := a.standin(c.User, c.Key, c.Amount, &acc); msg != "" {
		p.Status = api.PaymentDeclined
		put(payments, pk, p)
		a.storeDecided(c.User, c.Key)
		return Result{Code: InsufficientCredit, Payment: p.view(c.User, c.Key), Msg: msg}
	}
	p.Status = api.PaymentAccepted
	acc.Pending += c.Amount
	acc.Accepted += c.Amount
	acc.Updated = c.Time
	acc.LastIndex = a.index
	acc.checkIdentity(c.User)
	put(payments, pk, p)
	put(accounts, ak, acc)
	if err := a.tx.Bucket(bucketUnposted).Put(unpostedKey(a.index, c.User, c.Key), nil); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: index unposted payment: %v", err))
	}
	return Result{Code: OK, Payment: p.view(c.User, c.Key), Account: acc.view(c.User)}
}

// validPay repeats the API's checks inside apply, so that no entry, however
// it was made, can store an amount outside the documented range.
func validPay(c *Command) string {
	if api.ValidateKey(c.Key) != nil {
		return fmt.Sprintf("invalid key %q", c.Key)
	}
	if c.Amount <= 0 || c.Amount > api.MaxAmount {
		return fmt.Sprintf("amount %d out of range", c.Amount)
	}
	return ""
}

func (p *paymentRec) view(user uint64, key string) *api.Payment {
	return &api.Payment{
		Key:       key,
		User:      user,
		Amount:    p.Amount,
		Merchant:  p.Merchant,
		Status:    p.Status,
		Cycle:     api.FormatCycle(CycleOf(p.Created)),
		CreatedAt: api.FormatTime(p.Created),
		PostedAt:  api.FormatTime(p.Posted),
		Index:     p.Index,
	}
}
