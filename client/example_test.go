package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/rzonedb/rzone/client"
)

// fakeNode is an in-process stand-in for one rzone node, enough for the
// examples to run: accounts, payments with idempotency keys, and one bill.
// It answers as a node does (201 for a new payment, 200 with the original
// for a replayed key, 422 insufficient_credit for a decline). With
// dropFirstPay set it applies the first payment and then closes the
// connection without a reply, as a node that crashes after the commit does.
type fakeNode struct {
	mu           sync.Mutex
	accounts     map[uint64]*client.Account
	payments     map[string]client.Payment
	dropFirstPay bool
}

func startFakeNode(dropFirstPay bool) (addr string, stop func()) {
	f := &fakeNode{accounts: map[uint64]*client.Account{}, payments: map[string]client.Payment{}, dropFirstPay: dropFirstPay}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/accounts/{user}", f.putAccount)
	mux.HandleFunc("POST /v1/accounts/{user}/payments", f.pay)
	mux.HandleFunc("POST /v1/payments/batch", f.payBatch)
	mux.HandleFunc("GET /v1/accounts/{user}/bills/{cycle}", f.bill)
	hs := httptest.NewServer(mux) // no /v1/routes: served as a one-zone node
	return strings.TrimPrefix(hs.URL, "http://"), hs.Close
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, status int, code, msg string) {
	reply(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (f *fakeNode) putAccount(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CreditLimit int64 `json:"credit_limit"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	var user uint64
	fmt.Sscan(r.PathValue("user"), &user)
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[user]
	if !ok {
		a = &client.Account{User: user}
		f.accounts[user] = a
	}
	a.CreditLimit = req.CreditLimit
	a.Available = a.CreditLimit - a.Used - a.Pending
	reply(w, http.StatusOK, a)
}

func (f *fakeNode) pay(w http.ResponseWriter, r *http.Request) {
	var req client.PayRequest
	json.NewDecoder(r.Body).Decode(&req)
	var user uint64
	fmt.Sscan(r.PathValue("user"), &user)
	f.mu.Lock()
	defer f.mu.Unlock()
	res := f.payLocked(user, req)
	if res.Error != nil {
		refuse(w, res.Status, string(res.Error.Code), res.Error.Message)
		return
	}
	if res.Status == http.StatusCreated && f.dropFirstPay {
		f.dropFirstPay = false
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // committed, but the client never hears of it
		return
	}
	reply(w, res.Status, res.Payment)
}

// payLocked decides one payment as a node does.
func (f *fakeNode) payLocked(user uint64, req client.PayRequest) client.BatchResult {
	if p, ok := f.payments[req.Key]; ok {
		return client.BatchResult{Status: http.StatusOK, Payment: &p} // the original result of the key
	}
	a := f.accounts[user]
	if a == nil {
		return client.BatchResult{Status: http.StatusNotFound, Error: &client.ResultError{Code: client.CodeNotFound, Message: "no account"}}
	}
	if req.Amount > a.Available {
		return client.BatchResult{Status: http.StatusUnprocessableEntity, Error: &client.ResultError{Code: client.CodeInsufficientCredit, Message: "not enough credit"}}
	}
	a.Pending += req.Amount
	a.Accepted += req.Amount
	a.Available -= req.Amount
	p := client.Payment{Key: req.Key, User: user, Amount: req.Amount, Merchant: req.Merchant,
		Status: "accepted", Cycle: "202612", Index: uint64(len(f.payments) + 1)}
	f.payments[req.Key] = p
	return client.BatchResult{Status: http.StatusCreated, Payment: &p}
}

// payBatch decides each payment of a batch, one result per item.
func (f *fakeNode) payBatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Payments []client.BatchPayment `json:"payments"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out struct {
		Results []client.BatchResult `json:"results"`
	}
	for _, p := range req.Payments {
		out.Results = append(out.Results, f.payLocked(p.User, client.PayRequest{Key: p.Key, Amount: p.Amount, Merchant: p.Merchant}))
	}
	reply(w, http.StatusOK, out)
}

func (f *fakeNode) bill(w http.ResponseWriter, r *http.Request) {
	var user uint64
	fmt.Sscan(r.PathValue("user"), &user)
	reply(w, http.StatusOK, client.Bill{User: user, Cycle: r.PathValue("cycle"), Principal: 19_99, Fees: 0,
		Paid: 5_00, Outstanding: 14_99, DueDate: "2027-01-25", Status: "open", Payments: 1})
}

// New connects to one or more nodes by the host:port of their APIs.
func ExampleNew() {
	addr, stop := startFakeNode(false)
	defer stop()
	c, err := client.New([]string{addr}, client.WithMaxRetries(3))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.New(nil)
	fmt.Println(c != nil, err)
	// Output: true rzone client: no addresses
}

// PutAccount opens a credit line (or changes its limit); amounts are int64
// minor units.
func ExampleClient_PutAccount() {
	addr, stop := startFakeNode(false)
	defer stop()
	c, _ := client.New([]string{addr})
	a, err := c.PutAccount(context.Background(), 42, 500_00)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.User, a.CreditLimit, a.Available)
	// Output: 42 50000 50000
}

// Every payment carries an idempotency key. Sending the same key again
// returns the original payment instead of charging twice, and a payment
// beyond the available credit is declined.
func ExampleClient_Pay() {
	addr, stop := startFakeNode(false)
	defer stop()
	ctx := context.Background()
	c, _ := client.New([]string{addr})
	c.PutAccount(ctx, 42, 50_00)

	p, err := c.Pay(ctx, 42, client.PayRequest{Key: "order-1001", Amount: 19_99, Merchant: "books"})
	fmt.Println(p.Key, p.Amount, p.Status, err)

	again, replayed, err := c.PayReplayed(ctx, 42, client.PayRequest{Key: "order-1001", Amount: 19_99, Merchant: "books"})
	fmt.Println(again.Index == p.Index, replayed, err)

	_, err = c.Pay(ctx, 42, client.PayRequest{Key: "order-1002", Amount: 40_00, Merchant: "shoes"})
	var e *client.Error
	fmt.Println(errors.Is(err, client.ErrInsufficientCredit), errors.As(err, &e) && e.Code == client.CodeInsufficientCredit)
	// Output:
	// order-1001 1999 accepted <nil>
	// true true <nil>
	// true true
}

// A payment whose reply is lost has an unknown outcome: it may have been
// charged. The client retries it with the same key by itself; with retries
// off (or once they are spent) the caller retries with the same key, and the
// node answers with the original payment, so the user is charged once.
func ExampleClient_Pay_retry() {
	addr, stop := startFakeNode(true) // the first payment's reply is lost
	defer stop()
	ctx := context.Background()
	c, _ := client.New([]string{addr}, client.WithMaxRetries(0))
	c.PutAccount(ctx, 42, 500_00)

	req := client.PayRequest{Key: "order-1001", Amount: 19_99, Merchant: "books"}
	_, err := c.Pay(ctx, 42, req)
	fmt.Println(errors.Is(err, client.ErrUnknownOutcome), client.IsRetryable(err))

	p, replayed, err := c.PayReplayed(ctx, 42, req) // the same key
	fmt.Println(p.Key, p.Amount, replayed, err)
	// Output:
	// true true
	// order-1001 1999 true <nil>
}

// Many payments go in one request: each item gets its own result, in the
// order given (201 new, 200 the original of a key seen before, or its
// error). An item whose result is an unknown outcome or unavailable is
// retried with the same key, as a single payment would be.
func ExampleClient_PayBatch() {
	addr, stop := startFakeNode(false)
	defer stop()
	ctx := context.Background()
	c, _ := client.New([]string{addr})
	c.PutAccount(ctx, 42, 50_00)
	c.Pay(ctx, 42, client.PayRequest{Key: "order-1", Amount: 10_00, Merchant: "books"})

	results, err := c.PayBatch(ctx, []client.BatchPayment{
		{User: 42, Key: "order-2", Amount: 5_00, Merchant: "books"},
		{User: 42, Key: "order-1", Amount: 10_00, Merchant: "books"}, // seen before
		{User: 42, Key: "order-3", Amount: 90_00, Merchant: "cars"},  // over the limit
		{User: 7, Key: "order-4", Amount: 1_00, Merchant: "books"},   // no account
	})
	fmt.Println(len(results), err)
	for _, r := range results {
		if r.Error != nil {
			fmt.Println(r.Status, r.Error.Code)
			continue
		}
		fmt.Println(r.Status, r.Payment.Key, r.Payment.Amount)
	}
	// Output:
	// 4 <nil>
	// 201 order-2 500
	// 200 order-1 1000
	// 422 insufficient_credit
	// 404 not_found
}

// A bill is read by its cycle ("YYYYMM"); Outstanding is what is still owed.
func ExampleClient_GetBill() {
	addr, stop := startFakeNode(false)
	defer stop()
	c, _ := client.New([]string{addr})
	b, err := c.GetBill(context.Background(), 42, "202612")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Cycle, b.Principal, b.Paid, b.Outstanding, b.DueDate)
	// Output: 202612 1999 500 1499 2027-01-25
}
