package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// PutAccount creates a user's account or sets its credit limit (minor
// units). Lowering the limit below the credit in use is refused.
func (c *Client) PutAccount(ctx context.Context, user uint64, creditLimit int64) (*Account, error) {
	var out Account
	_, err := c.do(ctx, call{user: &user, method: http.MethodPut, path: userPath(user, ""),
		body: map[string]int64{"credit_limit": creditLimit}, out: &out, write: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAccount reads a user's account.
func (c *Client) GetAccount(ctx context.Context, user uint64, opts ...ReadOption) (*Account, error) {
	var out Account
	if _, err := c.do(ctx, call{user: &user, method: http.MethodGet, path: userPath(user, ""), out: &out, read: readOptions(opts)}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Pay makes a payment on credit. Replayed reports whether the key had been
// accepted before (this is the original payment). A declined key stays
// declined: it returns ErrInsufficientCredit on every retry. With
// WithCoalescing, concurrent calls may share a request; each still gets
// its own answer.
func (c *Client) Pay(ctx context.Context, user uint64, req PayRequest) (*Payment, error) {
	p, _, err := c.PayReplayed(ctx, user, req)
	return p, err
}

// PayReplayed is Pay that also reports whether the server returned the
// original result of an earlier request with the same key.
func (c *Client) PayReplayed(ctx context.Context, user uint64, req PayRequest) (*Payment, bool, error) {
	var out Payment
	status, err := c.do(ctx, call{user: &user, method: http.MethodPost, path: userPath(user, "/payments"), body: req, out: &out, write: true, pay: &req})
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusOK, nil
}

// GetPayment reads one payment by key.
func (c *Client) GetPayment(ctx context.Context, user uint64, key string, opts ...ReadOption) (*Payment, error) {
	var out Payment
	if _, err := c.do(ctx, call{user: &user, method: http.MethodGet, path: userPath(user, "/payments/"+url.PathEscape(key)), out: &out, read: readOptions(opts)}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListPayments reads one page of a user's payments in key order.
func (c *Client) ListPayments(ctx context.Context, user uint64, lo ListOptions, opts ...ReadOption) (*PaymentList, error) {
	q := url.Values{}
	if lo.After != "" {
		q.Set("after", lo.After)
	}
	if lo.Limit > 0 {
		q.Set("limit", strconv.Itoa(lo.Limit))
	}
	var out PaymentList
	if _, err := c.do(ctx, call{user: &user, method: http.MethodGet, path: userPath(user, "/payments"), query: q, out: &out, read: readOptions(opts)}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllPayments reads every payment of a user, page by page.
func (c *Client) AllPayments(ctx context.Context, user uint64, opts ...ReadOption) ([]Payment, error) {
	var all []Payment
	lo := ListOptions{Limit: 1000}
	for {
		page, err := c.ListPayments(ctx, user, lo, opts...)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Payments...)
		if page.Next == "" {
			return all, nil
		}
		lo.After = page.Next
	}
}

// Repay pays down a user's bills: req.Cycle's bill, or the oldest first when
// it is empty. Paying more than is owed returns ErrOverpayment, and that key
// stays refused.
func (c *Client) Repay(ctx context.Context, user uint64, req RepayRequest) (*Repayment, error) {
	var out Repayment
	if _, err := c.do(ctx, call{user: &user, method: http.MethodPost, path: userPath(user, "/repayments"), body: req, out: &out, write: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetRepayment reads one repayment by key.
func (c *Client) GetRepayment(ctx context.Context, user uint64, key string, opts ...ReadOption) (*Repayment, error) {
	var out Repayment
	if _, err := c.do(ctx, call{user: &user, method: http.MethodGet, path: userPath(user, "/repayments/"+url.PathEscape(key)), out: &out, read: readOptions(opts)}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListBills reads every bill of a user, oldest cycle first.
func (c *Client) ListBills(ctx context.Context, user uint64, opts ...ReadOption) ([]Bill, error) {
	var out struct {
		Bills []Bill `json:"bills"`
	}
	if _, err := c.do(ctx, call{user: &user, method: http.MethodGet, path: userPath(user, "/bills"), out: &out, read: readOptions(opts)}); err != nil {
		return nil, err
	}
	return out.Bills, nil
}

// GetBill reads the bill of one cycle ("YYYYMM").
func (c *Client) GetBill(ctx context.Context, user uint64, cycle string, opts ...ReadOption) (*Bill, error) {
	var out Bill
	if _, err := c.do(ctx, call{user: &user, method: http.MethodGet, path: userPath(user, "/bills/"+url.PathEscape(cycle)), out: &out, read: readOptions(opts)}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Notifications reads a user's outbox, oldest first.
func (c *Client) Notifications(ctx context.Context, user uint64, opts ...ReadOption) ([]Notification, error) {
	var out NotificationList
	if _, err := c.do(ctx, call{user: &user, method: http.MethodGet, path: userPath(user, "/notifications"), out: &out, read: readOptions(opts)}); err != nil {
		return nil, err
	}
	return out.Notifications, nil
}

// Ready asks the node at addr whether it can serve a user request of every
// shard now (GET /readyz): nil when it can, else the node's error
// (unavailable while it cannot). It is not retried elsewhere.
func (c *Client) Ready(ctx context.Context, addr string) error {
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/readyz", read: readOpts{node: addr}})
	return err
}

// Status reads the status of the node at addr (not retried elsewhere).
func (c *Client) Status(ctx context.Context, addr string) (*Status, error) {
	var out Status
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/status", out: &out, read: readOpts{node: addr}}); err != nil {
		return nil, err
	}
	return &out, nil
}
