package fsm

import (
	"bytes"
	"fmt"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/money"
)

// repay pays down bills under a key: one cycle's bill if Cycle is set, else
// the oldest outstanding bills first. Paying more than is owed is refused,
// and the refusal is stored under the key like a declined payment.
func (a *applier) repay(c *Command) Result {
	if api.ValidateKey(c.Key) != nil || c.Amount <= 0 || c.Amount > api.MaxAmount {
		return Result{Code: Invalid, Msg: fmt.Sprintf("invalid repayment %q of %d", c.Key, c.Amount)}
	}
	if ok, epoch := owns(a.tx, c.User); !ok {
		return wrongZone(c.User, epoch)
	}
	if r := refuseIsolated(a.tx, c.User, "a repayment"); r != nil {
		return *r
	}
	repayments := a.tx.Bucket(bucketRepayments)
	rk := userKey(c.User, c.Key)
	var r repaymentRec
	if get(repayments, rk, &r) {
		if r.Amount != c.Amount || r.Cycle != c.Cycle {
			return Result{Code: Conflict, Msg: fmt.Sprintf(
				"key %q was used for a repayment of %d (cycle %s)", c.Key, r.Amount, cycleText(r.Cycle))}
		}
		res := Result{Code: OK, Replay: true, Repayment: r.view(c.User, c.Key)}
		if r.Status == api.RepaymentRefused {
			res.Code = Overpayment
			res.Msg = fmt.Sprintf("repayment %q was refused: amount %s exceeded the %s owed", c.Key, money.Format(r.Amount), money.Format(r.Owed))
		}
		return res
	}
	accounts := a.tx.Bucket(bucketAccounts)
	ak := be64(c.User)
	var acc accountRec
	if !get(accounts, ak, &acc) {
		return Result{Code: NotFound, Msg: fmt.Sprintf("account %d not found", c.User)}
	}

	bills := a.tx.Bucket(bucketBills)
	type due struct {
		key  []byte
		bill billRec
	}
	var owed int64
	var dues []due
	if c.Cycle != 0 {
		k := billKey(c.User, c.Cycle)
		var b billRec
		if get(bills, k, &b) && b.outstanding() > 0 {
			dues = append(dues, due{k, b})
			owed = b.outstanding()
		}
	} else {
		prefix := be64(c.User)
		cur := bills.Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var b billRec
			decode(v, &b)
			if b.outstanding() > 0 {
				dues = append(dues, due{bytes.Clone(k), b})
				owed += b.outstanding()
			}
		}
	}

	r = repaymentRec{Amount: c.Amount, Cycle: c.Cycle, Owed: owed, Created: c.Time, Index: a.index}
	if c.Amount > owed {
		r.Status = api.RepaymentRefused
		put(repayments, rk, r)
		return Result{Code: Overpayment, Repayment: r.view(c.User, c.Key),
			Msg: fmt.Sprintf("amount %s exceeds the %s owed%s", money.Format(c.Amount), money.Format(owed), cycleSuffix(c.Cycle))}
	}
	left := c.Amount
	for _, d := range dues {
		if left == 0 {
			break
		}
		pay := min(left, d.bill.outstanding())
		d.bill.Paid += pay
		d.bill.Updated = c.Time
		put(bills, d.key, d.bill)
		r.Alloc = append(r.Alloc, allocRec{Cycle: cycleFromBillKey(d.key), Amount: pay})
		left -= pay
	}
	r.Status = api.RepaymentApplied
	acc.Used -= c.Amount
	acc.Repaid += c.Amount
	acc.Updated = c.Time
	acc.LastIndex = a.index
	acc.checkMoney(c.User) // a reconciled account may still be over its limit after a repayment
	put(accounts, ak, acc)
	put(repayments, rk, r)
	return Result{Code: OK, Repayment: r.view(c.User, c.Key), Account: acc.view(c.User)}
}

func cycleText(c uint32) string {
	if c == 0 {
		return "any"
	}
	return api.FormatCycle(c)
}

func cycleSuffix(c uint32) string {
	if c == 0 {
		return ""
	}
	return " on cycle " + api.FormatCycle(c)
}

func (r *repaymentRec) view(user uint64, key string) *api.Repayment {
	out := &api.Repayment{
		Key:       key,
		User:      user,
		Amount:    r.Amount,
		Status:    r.Status,
		CreatedAt: api.FormatTime(r.Created),
		Index:     r.Index,
	}
	if r.Cycle != 0 {
		out.Cycle = api.FormatCycle(r.Cycle)
	}
	for _, al := range r.Alloc {
		out.Allocations = append(out.Allocations, api.Allocation{Cycle: api.FormatCycle(al.Cycle), Amount: al.Amount})
	}
	return out
}
