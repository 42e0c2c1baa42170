package client

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// MaxCoalesce is the most payments one coalesced request carries
// (WithCoalescing): well inside a batch request's limits (MaxBatch items,
// 1 MiB of body with the longest keys and merchants).
const MaxCoalesce = 256

// WithCoalescing lets concurrent Pay calls to the same node share
// requests. While fewer than lanes requests of Pay are in flight to a
// node, a call is sent alone, as without this option; a call made while
// lanes are in flight waits and goes, with every other call waiting for
// that node, in the next request to leave: one POST /v1/payments/batch of
// at most MaxCoalesce payments, answered item by item. Each call still
// gets exactly what it would have got alone: its own payment or error
// (a replay's original result, a decline's code, an unknown outcome when
// the shared request's answer was lost), and its retries go alone, with
// the same key. A call whose context ends while it waits was not sent
// and is not; one whose context ends with its request in flight ends
// with an unknown outcome, as a single request would.
//
// At many concurrent callers this sends a fraction of the requests (each
// a read and a write on either side) and lets the node settle a request's
// payments in one log entry; at one caller it changes nothing. lanes of 0
// or less turns coalescing off (the default).
func WithCoalescing(lanes int) Option {
	return func(c *Client) {
		c.co = nil
		if lanes > 0 {
			c.co = &coalescer{lanes: lanes, nodes: map[string]*lane{}}
		}
	}
}

// coalescer holds each node's lane of Pay calls.
type coalescer struct {
	lanes int

	mu    sync.Mutex
	nodes map[string]*lane
}

// lane is one node's: the requests of Pay in flight to it and the calls
// waiting for the next one.
type lane struct {
	mu      sync.Mutex
	busy    int
	waiting []*waiter
}

// waiter is a call waiting in a lane. Its fields after done is closed
// are the attempt's answer.
type waiter struct {
	user uint64
	req  PayRequest
	out  *Payment

	sent   bool // taken into a request (guarded by the lane's mu)
	done   chan struct{}
	status int
	err    error
}

func (co *coalescer) lane(node string) *lane {
	co.mu.Lock()
	defer co.mu.Unlock()
	l := co.nodes[node]
	if l == nil {
		l = &lane{}
		co.nodes[node] = l
	}
	return l
}

// coalescedPay makes one attempt of the payment cl to node: alone when a
// lane is free and nobody waits, else in the next coalesced request.
// cl.out is filled on success; the status and error are what c.once
// would return.
func (c *Client) coalescedPay(ctx context.Context, node string, cl call, body []byte, user uint64, req PayRequest) (int, error) {
	l := c.co.lane(node)
	l.mu.Lock()
	if l.busy < c.co.lanes && len(l.waiting) == 0 {
		l.busy++
		l.mu.Unlock()
		status, err := c.once(ctx, node, cl, body)
		c.release(node, l)
		return status, err
	}
	// Every request is in flight, so the lane's own go on to the waiting
	// calls (release, drain): wait to be taken into one.
	w := &waiter{user: user, req: req, out: cl.out.(*Payment), done: make(chan struct{})}
	l.waiting = append(l.waiting, w)
	l.mu.Unlock()
	// The attempt is bounded as one sent alone is (WithTimeout), the wait
	// for a request included, so a node that stopped answering sends the
	// call's retry elsewhere as soon.
	timer := time.NewTimer(c.attemptTimeout(cl))
	defer timer.Stop()
	var ended string
	select {
	case <-w.done:
		return w.status, w.err
	case <-ctx.Done():
		ended = "the call's context ended: " + ctx.Err().Error()
	case <-timer.C:
		ended = "the attempt timed out"
	}
	l.mu.Lock()
	sent := w.sent
	if !sent {
		for i, o := range l.waiting {
			if o == w {
				l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
				break
			}
		}
	}
	l.mu.Unlock()
	if !sent {
		// Never sent: not applied, as a request that got no connection.
		return 0, &Error{Code: CodeUnavailable, Message: "not sent: " + ended + " waiting for a request to " + node, Node: node, waited: true}
	}
	select {
	case <-w.done: // answered as the wait ended: the answer stands
		return w.status, w.err
	default:
	}
	return 0, &Error{Code: CodeUnknownOutcome, Message: ended + " with its request in flight", Node: node}
}

// release ends one of l's requests: if calls wait, the lane's request
// goes on in a goroutine of its own, so the caller returns now.
func (c *Client) release(node string, l *lane) {
	l.mu.Lock()
	more := len(l.waiting) > 0
	if !more {
		l.busy--
	}
	l.mu.Unlock()
	if more {
		go c.drain(node, l)
	}
}

// drain sends l's waiting calls, at most MaxCoalesce a request, until none
// waits; it holds one of l's requests in flight meanwhile.
func (c *Client) drain(node string, l *lane) {
	for {
		l.mu.Lock()
		n := min(len(l.waiting), MaxCoalesce)
		if n == 0 {
			l.busy--
			l.mu.Unlock()
			return
		}
		batch := append([]*waiter(nil), l.waiting[:n]...)
		l.waiting = append(l.waiting[:0], l.waiting[n:]...)
		for _, w := range batch {
			w.sent = true
		}
		l.mu.Unlock()
		c.sendCoalesced(node, batch)
	}
}

// sendCoalesced sends batch to node in one request and gives each waiter
// its item's answer. Its context is the client's own: each caller's
// context ends only its own wait.
func (c *Client) sendCoalesced(node string, batch []*waiter) {
	ctx := context.Background()
	if len(batch) == 1 {
		w := batch[0]
		u := w.user
		cl := call{user: &u, method: http.MethodPost, path: userPath(u, "/payments"), body: w.req, out: w.out, write: true}
		body, err := jsonBody(cl.body)
		if err == nil {
			w.status, w.err = c.once(ctx, node, cl, body)
		} else {
			w.err = err
		}
		close(w.done)
		return
	}
	items := make([]BatchPayment, len(batch))
	for i, w := range batch {
		items[i] = BatchPayment{User: w.user, Key: w.req.Key, Amount: w.req.Amount, Merchant: w.req.Merchant}
	}
	var out struct {
		Results []BatchResult `json:"results"`
	}
	u := items[0].User
	cl := call{user: &u, method: http.MethodPost, path: "/v1/payments/batch", body: struct {
		Payments []BatchPayment `json:"payments"`
	}{items}, out: &out, write: true, shared: true}
	body, err := jsonBody(cl.body)
	status := 0
	if err == nil {
		status, err = c.once(ctx, node, cl, body)
	}
	if err == nil && len(out.Results) != len(batch) {
		// Taken, but the answer does not say which payment got what.
		err = &Error{Code: CodeUnknownOutcome, Status: http.StatusBadGateway, Node: node,
			Message: fmt.Sprintf("a coalesced request of %d payments was answered with %d results", len(batch), len(out.Results))}
	}
	for i, w := range batch {
		switch {
		case err != nil:
			w.status, w.err = status, err
		case out.Results[i].Error != nil:
			r := out.Results[i]
			w.status, w.err = r.Status, &Error{Code: r.Error.Code, Message: r.Error.Message, Status: r.Status, Node: node}
		case out.Results[i].Payment == nil:
			w.status, w.err = status, &Error{Code: CodeUnknownOutcome, Status: http.StatusBadGateway, Node: node,
				Message: fmt.Sprintf("a coalesced request's result %d has neither a payment nor an error", i)}
		default:
			*w.out = *out.Results[i].Payment
			w.status = out.Results[i].Status
		}
		close(w.done)
	}
}
