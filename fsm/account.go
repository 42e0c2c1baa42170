package fsm

import (
	"fmt"

	"github.com/rzonedb/rzone/internal/api"
)

func (a *applier) putAccount(c *Command) Result {
	if ok, epoch := owns(a.tx, c.User); !ok {
		return wrongZone(c.User, epoch)
	}
	if r := refuseIsolated(a.tx, c.User, "a credit limit change"); r != nil {
		return *r
	}
	b := a.tx.Bucket(bucketAccounts)
	k := be64(c.User)
	var acc accountRec
	if !get(b, k, &acc) {
		acc.Created = c.Time
	}
	if c.CreditLimit < 0 || c.CreditLimit > api.MaxAmount {
		return Result{Code: Invalid, Msg: fmt.Sprintf("credit limit %d out of range", c.CreditLimit)}
	}
	if inUse := acc.Used + acc.Pending; c.CreditLimit < inUse {
		return Result{Code: Invalid, Msg: fmt.Sprintf("credit limit %d is below the credit in use (%d)", c.CreditLimit, inUse)}
	}
	acc.Limit = c.CreditLimit
	acc.Updated = c.Time
	acc.LastIndex = a.index
	put(b, k, acc)
	return Result{Code: OK, Account: acc.view(c.User)}
}

func (r *accountRec) available() int64 {
	return max(0, r.Limit-r.Used-r.Pending)
}

func (r *accountRec) view(user uint64) *api.Account {
	return &api.Account{
		User:        user,
		CreditLimit: r.Limit,
		Used:        r.Used,
		Pending:     r.Pending,
		Available:   r.available(),
		Accepted:    r.Accepted,
		Repaid:      r.Repaid,
		CreatedAt:   api.FormatTime(r.Created),
		UpdatedAt:   api.FormatTime(r.Updated),
	}
}

// checkIdentity panics if an account breaks the money identity or its
// bounds: such a state must never be written.
func (r *accountRec) checkIdentity(user uint64) {
	r.checkMoney(user)
	if r.Used+r.Pending > r.Limit {
		// Apply's own arithmetic on validated commands and Validate-checked records (ingest, merge) never gets here: a bug in rzone.
		panic(fmt.Sprintf("fsm: account %d is over its limit: %+v", user, *r))
	}
}

// checkMoney panics if an account breaks the money identity. Unlike
// checkIdentity it allows credit in use over the limit: reconciliation
// keeps every payment a failover store acknowledged, even where the zone's
// own later payments leave no room for it.
func (r *accountRec) checkMoney(user uint64) {
	if r.Used < 0 || r.Pending < 0 || r.Used+r.Pending != r.Accepted-r.Repaid {
		// Apply's own arithmetic on validated commands and Validate-checked records (ingest, merge) never gets here: a bug in rzone.
		panic(fmt.Sprintf("fsm: account %d breaks the money identity: %+v", user, *r))
	}
}
