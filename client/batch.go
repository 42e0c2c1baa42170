package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// BatchPayment is one payment of a batch (PayBatch): a PayRequest with its
// user.
type BatchPayment struct {
	// User is the paying user's id.
	User uint64 `json:"user"`
	// Key is the payment's idempotency key, unique per user.
	Key string `json:"key"`
	// Amount is the payment's amount in minor units, 1 to MaxAmount.
	Amount int64 `json:"amount"`
	// Merchant names who is paid; free text.
	Merchant string `json:"merchant"`
}

// BatchAccount is one account of a batch (PutAccounts): a credit limit
// with its user.
type BatchAccount struct {
	// User is the account's user id.
	User uint64 `json:"user"`
	// CreditLimit is the limit to set, in minor units.
	CreditLimit int64 `json:"credit_limit"`
}

// BatchResult is the outcome of one item of a batch, at the item's
// position.
type BatchResult struct {
	// Status is the HTTP status the single request would have got: 201 a
	// new payment, 200 a replayed payment or an account written, or the
	// error's status.
	Status int `json:"status"`
	// Payment is the payment, for a payment item that was accepted (or
	// replayed); nil otherwise.
	Payment *Payment `json:"payment,omitempty"`
	// Account is the account, for an account item that was written; nil
	// otherwise.
	Account *Account `json:"account,omitempty"`
	// Error is the item's error; nil when it succeeded.
	Error *ResultError `json:"error,omitempty"`
}

// ResultError is an error as the API sends it in a reply's body: the error
// of one item of a batch.
type ResultError struct {
	// Code is the error's code, one of the Code constants.
	Code Code `json:"code"`
	// Message says more, for people.
	Message string `json:"message"`
	// Epoch is the current route epoch, with CodeWrongZone; 0 otherwise.
	Epoch uint64 `json:"epoch,omitempty"`
}

func (e *ResultError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is matches the sentinel of e's code, as *Error does.
func (e *ResultError) Is(target error) bool { return sentinels[e.Code] == target }

// MaxBatch is the most payments PayBatch sends in one request.
const MaxBatch = api.MaxBatch

// PayBatch makes many payments at once: each is settled as if sent alone
// (its own key, its own result, at the same position), but the server books
// a whole zone's share in one log entry. The client sends each zone's share
// straight to that zone's leader when it knows the routes, and retries, with
// the same keys, the payments whose result is retryable; their last result
// stands when the retries run out. Every result carries a status. The error
// is for the call as a whole (a zone's share refused as a bad request, the
// context ended); the items it concerns carry it in their results too, and
// per-payment refusals are in the results.
func (c *Client) PayBatch(ctx context.Context, ps []BatchPayment) ([]BatchResult, error) {
	return sendBatch(c, ctx, "/v1/payments/batch", ps, func(p BatchPayment) uint64 { return p.User },
		func(share []BatchPayment) any {
			return struct {
				Payments []BatchPayment `json:"payments"`
			}{share}
		})
}

// PutAccounts creates many accounts (or sets their credit limits) at once,
// as PayBatch does payments: each account gets the result a single
// PutAccount would have got, at the same position, and a zone's share is
// one log entry. Setting a limit is idempotent, so retries are safe.
func (c *Client) PutAccounts(ctx context.Context, as []BatchAccount) ([]BatchResult, error) {
	return sendBatch(c, ctx, "/v1/accounts/batch", as, func(a BatchAccount) uint64 { return a.User },
		func(share []BatchAccount) any {
			return struct {
				Accounts []BatchAccount `json:"accounts"`
			}{share}
		})
}

// sendBatch sends items to path, each zone's share to its leader, and
// retries the items whose result is retryable.
func sendBatch[T any](c *Client, ctx context.Context, path string, items []T, user func(T) uint64, wrap func([]T) any) ([]BatchResult, error) {
	results := make([]BatchResult, len(items))
	pending := make([]int, len(items))
	for i := range items {
		pending[i] = i
	}
	// unknown[i] is set once a round left item i's outcome unknown: a later
	// round's refusal that says only "not applied this time" cannot settle
	// it (the earlier round may have charged), so the item ends unknown
	// unless a later round gets the key's own answer (as do() does for one
	// call).
	unknown := make([]bool, len(items))
	settle := func() []BatchResult {
		for i, r := range results {
			if unknown[i] && r.Error != nil && !answeredCode(r.Error.Code) {
				results[i] = BatchResult{Status: CodeUnknownOutcome.HTTPStatus(), Error: &ResultError{Code: CodeUnknownOutcome,
					Message: "an earlier attempt may have been applied; the last attempt: " + string(r.Error.Code) + ": " + r.Error.Message}}
			}
		}
		return results
	}
	delay := c.backoff
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return settle(), ctx.Err()
			case <-time.After(delay/2 + rand.N(delay/2+1)):
			}
			delay = min(2*delay, c.maxBackoff)
		}
		users := make([]uint64, len(items))
		for _, i := range pending {
			users[i] = user(items[i])
		}
		groups := c.groupByZone(ctx, users, pending)
		var mu sync.Mutex
		var firstErr error
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Add(1)
			go func(g []int) {
				defer wg.Done()
				share := make([]T, len(g))
				for j, i := range g {
					share[j] = items[i]
				}
				var out struct {
					Results []BatchResult `json:"results"`
				}
				u := users[g[0]]
				_, err := c.do(ctx, call{method: http.MethodPost, path: path, body: wrap(share), out: &out, write: true, user: &u, shared: true})
				mu.Lock()
				defer mu.Unlock()
				if err == nil && len(out.Results) != len(g) {
					// The node took the share but its answer does not
					// say which item got what: each one's outcome is
					// unknown, and retrying with the same keys settles it.
					err = &Error{Code: CodeUnknownOutcome, Status: http.StatusBadGateway,
						Message: fmt.Sprintf("%s answered %d results for %d items", path, len(out.Results), len(g))}
				}
				if err == nil {
					for j, i := range g {
						results[i] = out.Results[j]
					}
					return
				}
				// Every item of the share carries the error, with a
				// status, so that no result is left empty.
				var e *Error
				if !errors.As(err, &e) {
					e = &Error{Code: CodeInternal, Message: err.Error()}
				}
				status := e.Status
				if status == 0 {
					status = e.Code.HTTPStatus()
				}
				for _, i := range g {
					results[i] = BatchResult{Status: status, Error: &ResultError{Code: e.Code, Message: e.Message}}
				}
				if !e.Code.Retryable() && firstErr == nil {
					firstErr = fmt.Errorf("rzone: %d of %d items of %s refused as a whole: %w", len(g), len(items), path, err)
				}
			}(g)
		}
		wg.Wait()
		for _, i := range pending {
			if e := results[i].Error; e != nil && e.Code == CodeUnknownOutcome {
				unknown[i] = true
			}
		}
		if firstErr != nil {
			return settle(), firstErr
		}
		var next []int
		for _, i := range pending {
			if e := results[i].Error; e != nil && e.Code.Retryable() {
				if e.Code == CodeWrongZone {
					c.forgetRoutes()
				}
				next = append(next, i)
			}
		}
		if attempt >= c.maxRetries {
			break
		}
		pending = next
	}
	return settle(), nil
}

// groupByZone splits the items at idx by the zone of their user (users is
// indexed like the items), from the cached routes; without routes they form
// one group.
func (c *Client) groupByZone(ctx context.Context, users []uint64, idx []int) [][]int {
	if !c.noRouting {
		c.ensureRoutes(ctx)
	}
	c.mu.Lock()
	rt := c.routes
	c.mu.Unlock()
	if rt == nil || len(rt.Shards) == 0 {
		return [][]int{idx}
	}
	byZone := map[string][]int{}
	var order []string
	for _, i := range idx {
		z := rt.Shards[users[i]%uint64(len(rt.Shards))].Zone
		if _, ok := byZone[z]; !ok {
			order = append(order, z)
		}
		byZone[z] = append(byZone[z], i)
	}
	out := make([][]int, 0, len(order))
	for _, z := range order {
		out = append(out, byZone[z])
	}
	return out
}

// errorBody is the JSON envelope of every error reply.
type errorBody struct {
	Error *ResultError `json:"error"`
}
