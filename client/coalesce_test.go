package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// fakePayNode answers single payments and payment batches, one result per
// item from answer (nil: accepted), and records what it got. While gate
// is non-nil, every request waits for it to close.
type fakePayNode struct {
	t      *testing.T
	answer func(key string, batched bool) *api.Error
	cut    atomic.Bool // cut the next batch's connection after reading it
	// mangle, if set, changes each batch's reply before it is sent.
	mangle func(out *api.BatchResponse)

	mu      sync.Mutex
	gate    chan struct{}
	singles []string   // keys sent alone
	batches [][]string // keys of each batch
	arrived chan string
}

func (f *fakePayNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var keys []string
	var users []uint64
	batched := r.URL.Path == "/v1/payments/batch"
	if batched {
		var req api.BatchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.t.Errorf("decode batch: %v", err)
		}
		for _, p := range req.Payments {
			keys, users = append(keys, p.Key), append(users, p.User)
		}
	} else {
		var req api.PayRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.t.Errorf("decode payment: %v", err)
		}
		keys, users = []string{req.Key}, []uint64{7}
	}
	f.mu.Lock()
	if batched {
		f.batches = append(f.batches, keys)
	} else {
		f.singles = append(f.singles, keys[0])
	}
	gate := f.gate
	f.mu.Unlock()
	if f.arrived != nil {
		for _, k := range keys {
			f.arrived <- k
		}
	}
	if gate != nil {
		<-gate
	}
	if batched && f.cut.CompareAndSwap(true, false) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	result := func(i int) api.BatchResult {
		if e := f.answer(keys[i], batched); e != nil {
			return api.BatchResult{Status: e.Code.HTTPStatus(), Error: e}
		}
		return api.BatchResult{Status: http.StatusCreated, Payment: &api.Payment{User: users[i], Key: keys[i], Amount: 5, Status: "accepted"}}
	}
	if !batched {
		res := result(0)
		w.WriteHeader(res.Status)
		if res.Error != nil {
			json.NewEncoder(w).Encode(api.ErrorBody{Error: res.Error})
		} else {
			json.NewEncoder(w).Encode(res.Payment)
		}
		return
	}
	var out api.BatchResponse
	for i := range keys {
		out.Results = append(out.Results, result(i))
	}
	if f.mangle != nil {
		f.mangle(&out)
	}
	json.NewEncoder(w).Encode(out)
}

func (f *fakePayNode) sent() (singles []string, batches [][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.singles...), append([][]string(nil), f.batches...)
}

// startCoalescing starts a fake node whose first request is held, and a
// client with one lane: the first call goes alone and is held, and the
// next calls wait behind it. release lets every request through.
func startCoalescing(t *testing.T, answer func(key string, batched bool) *api.Error, opts ...Option) (f *fakePayNode, c *Client, release func()) {
	f = &fakePayNode{t: t, answer: answer, gate: make(chan struct{}), arrived: make(chan string, 100)}
	hs := httptest.NewServer(f)
	t.Cleanup(hs.Close)
	c, err := New([]string{strings.TrimPrefix(hs.URL, "http://")}, append([]Option{WithRouting(false), WithCoalescing(1),
		WithMaxRetries(3), WithBackoff(time.Millisecond, time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	gate := f.gate
	release = func() {
		once.Do(func() {
			f.mu.Lock()
			close(gate)
			if f.gate == gate {
				f.gate = nil
			}
			f.mu.Unlock()
		})
	}
	t.Cleanup(release)
	return f, c, release
}

type payOutcome struct {
	p        *Payment
	replayed bool
	err      error
}

// payAsync starts c.PayReplayed for key in a goroutine.
func payAsync(ctx context.Context, c *Client, key string) <-chan payOutcome {
	ch := make(chan payOutcome, 1)
	go func() {
		p, replayed, err := c.PayReplayed(ctx, 7, PayRequest{Key: key, Amount: 5, Merchant: "m"})
		ch <- payOutcome{p, replayed, err}
	}()
	return ch
}

// waitQueued waits until n calls wait in the client's only lane.
func waitQueued(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.co.mu.Lock()
		var got int
		for _, l := range c.co.nodes {
			l.mu.Lock()
			got += len(l.waiting)
			l.mu.Unlock()
		}
		c.co.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d calls never waited in the lane", n)
}

// TestCoalescedPaymentsShareARequest: with the lane's request in flight,
// the calls made meanwhile go together in the next request, and each gets
// its own item's answer: a payment, a decline with its code and status, a
// conflict; an item refused as retryable is retried alone and settles.
func TestCoalescedPaymentsShareARequest(t *testing.T) {
	var retried atomic.Int32
	f, c, release := startCoalescing(t, func(key string, batched bool) *api.Error {
		switch {
		case key == "declined":
			return api.Errorf(api.CodeInsufficientCredit, "over the limit")
		case key == "conflict":
			return api.Errorf(api.CodeIdempotencyConflict, "another amount")
		case key == "busy" && batched:
			return api.Errorf(api.CodeUnavailable, "no leader")
		case key == "busy":
			retried.Add(1)
		}
		return nil
	})
	ctx := context.Background()
	first := payAsync(ctx, c, "first")
	<-f.arrived // the first call is in flight, alone
	keys := []string{"a", "declined", "b", "conflict", "busy"}
	var outs []<-chan payOutcome
	for i, k := range keys {
		outs = append(outs, payAsync(ctx, c, k))
		waitQueued(t, c, i+1)
	}
	release()
	if o := <-first; o.err != nil || o.p.Key != "first" {
		t.Fatalf("the first call: %+v", o)
	}
	got := map[string]payOutcome{}
	for i, ch := range outs {
		got[keys[i]] = <-ch
	}
	singles, batches := f.sent()
	if len(batches) != 1 || strings.Join(batches[0], ",") != strings.Join(keys, ",") {
		t.Fatalf("batches sent: %v, want one of %v", batches, keys)
	}
	if strings.Join(singles, ",") != "first,busy" {
		t.Fatalf("sent alone: %v, want the first call and the retry of busy", singles)
	}
	for _, k := range []string{"a", "b", "busy"} {
		if o := got[k]; o.err != nil || o.p == nil || o.p.Key != k || o.p.Amount != 5 || o.replayed {
			t.Errorf("%s: %+v %v, want its own new payment", k, o.p, o.err)
		}
	}
	var e *Error
	if o := got["declined"]; !errors.Is(o.err, ErrInsufficientCredit) || !errors.As(o.err, &e) || e.Status != 422 || e.Node == "" || o.p != nil {
		t.Errorf("declined: %+v %v, want the decline with status 422 from the node", o.p, o.err)
	}
	if o := got["conflict"]; !errors.Is(o.err, ErrIdempotencyConflict) {
		t.Errorf("conflict: %v, want an idempotency conflict", o.err)
	}
	if retried.Load() != 1 {
		t.Errorf("busy was retried alone %d times, want 1", retried.Load())
	}
}

// TestCoalescedRequestLostIsUnknown: a shared request whose reply is lost
// leaves every payment in it unknown (each may have been applied): without
// retries each call ends unknown; with them each is retried alone, with
// its key, and takes that answer.
func TestCoalescedRequestLostIsUnknown(t *testing.T) {
	for _, retries := range []int{0, 3} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) {
			f, c, release := startCoalescing(t, func(string, bool) *api.Error { return nil }, WithMaxRetries(retries))
			f.cut.Store(true)
			ctx := context.Background()
			first := payAsync(ctx, c, "first")
			<-f.arrived
			a, b := payAsync(ctx, c, "a"), payAsync(ctx, c, "b")
			waitQueued(t, c, 2)
			release()
			<-first
			for _, o := range []payOutcome{<-a, <-b} {
				if retries == 0 && !errors.Is(o.err, ErrUnknownOutcome) {
					t.Errorf("lost shared request, no retries: %v, want unknown outcome", o.err)
				}
				if retries > 0 && o.err != nil {
					t.Errorf("lost shared request, retried: %v, want the retry's payment", o.err)
				}
			}
			if singles, _ := f.sent(); retries > 0 && len(singles) != 3 {
				t.Errorf("sent alone: %v, want the first call and a retry of each", singles)
			}
		})
	}
}

// TestCoalescedCallsEndWithTheirContexts: a call whose context ends while
// it waits is not sent (not applied, and the node never sees it); one
// whose context ends with its shared request in flight ends unknown.
func TestCoalescedCallsEndWithTheirContexts(t *testing.T) {
	f, c, release := startCoalescing(t, func(string, bool) *api.Error { return nil }, WithMaxRetries(0))
	first := payAsync(context.Background(), c, "first")
	<-f.arrived
	waitCtx, cancelWait := context.WithCancel(context.Background())
	flightCtx, cancelFlight := context.WithCancel(context.Background())
	waiting := payAsync(waitCtx, c, "gave-up")
	waitQueued(t, c, 1)
	cancelWait()
	if o := <-waiting; !errors.Is(o.err, ErrUnavailable) || errors.Is(o.err, ErrUnknownOutcome) {
		t.Fatalf("a call that gave up waiting: %v, want unavailable (not sent)", o.err)
	}
	waitQueued(t, c, 0)

	// Hold the next request too, with two calls in it.
	f.mu.Lock()
	f.gate = make(chan struct{})
	gate2 := f.gate
	f.mu.Unlock()
	inFlight := payAsync(flightCtx, c, "in-flight")
	other := payAsync(context.Background(), c, "other")
	waitQueued(t, c, 2)
	release() // the first request ends; the lane sends the two together, held
	<-first
	for range 2 {
		<-f.arrived
	}
	cancelFlight()
	if o := <-inFlight; !errors.Is(o.err, ErrUnknownOutcome) {
		t.Fatalf("a call whose context ended in flight: %v, want unknown outcome", o.err)
	}
	close(gate2)
	if o := <-other; o.err != nil || o.p.Key != "other" {
		t.Fatalf("the call sharing its request: %+v %v", o.p, o.err)
	}
	singles, batches := f.sent()
	for _, k := range singles {
		if k == "gave-up" {
			t.Fatal("a call that gave up waiting was sent")
		}
	}
	for _, b := range batches {
		for _, k := range b {
			if k == "gave-up" {
				t.Fatal("a call that gave up waiting was sent")
			}
		}
	}
}

// TestCoalescingOffOrAloneSendsSingles: with coalescing off, or with a
// lane free, every payment is its own request.
func TestCoalescingOffOrAloneSendsSingles(t *testing.T) {
	for _, lanes := range []int{0, 4} {
		f := &fakePayNode{t: t, answer: func(string, bool) *api.Error { return nil }}
		hs := httptest.NewServer(f)
		c, err := New([]string{strings.TrimPrefix(hs.URL, "http://")}, WithRouting(false), WithCoalescing(lanes))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := c.Pay(context.Background(), 7, PayRequest{Key: fmt.Sprint(i), Amount: 5, Merchant: "m"}); err != nil {
				t.Fatal(err)
			}
		}
		if singles, batches := f.sent(); len(singles) != 5 || len(batches) != 0 {
			t.Errorf("lanes %d, one caller: %d singles and %d batches, want 5 and 0", lanes, len(singles), len(batches))
		}
		hs.Close()
	}
}

// TestCoalescedRequestsAreCapped: more calls waiting than one request
// carries go in several, none above MaxCoalesce (a batch above the node's
// limit would be refused as a whole).
func TestCoalescedRequestsAreCapped(t *testing.T) {
	f, c, release := startCoalescing(t, func(string, bool) *api.Error { return nil })
	f.arrived = make(chan string, 1000)
	first := payAsync(context.Background(), c, "first")
	<-f.arrived
	const n = MaxCoalesce + 44
	var outs []<-chan payOutcome
	for i := range n {
		outs = append(outs, payAsync(context.Background(), c, fmt.Sprint("k", i)))
	}
	waitQueued(t, c, n)
	release()
	<-first
	for i, ch := range outs {
		if o := <-ch; o.err != nil || o.p.Key != fmt.Sprint("k", i) {
			t.Fatalf("call %d: %+v %v", i, o.p, o.err)
		}
	}
	_, batches := f.sent()
	total := 0
	for _, b := range batches {
		if len(b) > MaxCoalesce {
			t.Errorf("a coalesced request of %d payments, want at most %d", len(b), MaxCoalesce)
		}
		total += len(b)
	}
	if total != n || len(batches) != 2 {
		t.Errorf("%d payments in %d coalesced requests, want %d in 2", total, len(batches), n)
	}
}

// TestCoalescedReplyThatSaysTooLittleIsUnknown: a shared request answered
// with fewer results than payments, or a success without its payment, was
// taken but does not say which payment got what: each call ends unknown.
func TestCoalescedReplyThatSaysTooLittleIsUnknown(t *testing.T) {
	for name, mangle := range map[string]func(*api.BatchResponse){
		"a result short": func(out *api.BatchResponse) { out.Results = out.Results[1:] },
		"no payment in a 201": func(out *api.BatchResponse) {
			for i := range out.Results {
				if out.Results[i].Payment.Key == "b" {
					out.Results[i].Payment = nil
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			f, c, release := startCoalescing(t, func(string, bool) *api.Error { return nil }, WithMaxRetries(0))
			f.mangle = mangle
			first := payAsync(context.Background(), c, "first")
			<-f.arrived
			a, b := payAsync(context.Background(), c, "a"), payAsync(context.Background(), c, "b")
			waitQueued(t, c, 2)
			release()
			<-first
			oa, ob := <-a, <-b
			if name == "a result short" && !errors.Is(oa.err, ErrUnknownOutcome) {
				t.Errorf("a: %+v %v, want unknown outcome", oa.p, oa.err)
			}
			if !errors.Is(ob.err, ErrUnknownOutcome) {
				t.Errorf("b: %+v %v, want unknown outcome", ob.p, ob.err)
			}
		})
	}
}

// TestCoalescedWaitIsBoundedByTheAttemptTimeout: a call waiting behind
// requests that do not come back ends within one attempt's timeout, as a
// call sent alone would, not after the requests ahead of it time out one
// by one; one that was never sent says so, and the node never sees it.
func TestCoalescedWaitIsBoundedByTheAttemptTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	f, c, _ := startCoalescing(t, func(string, bool) *api.Error { return nil }, WithMaxRetries(0), WithTimeout(timeout))
	f.arrived = make(chan string, 1000)
	first := payAsync(context.Background(), c, "first")
	<-f.arrived
	const n = MaxCoalesce + 44
	type timed struct {
		payOutcome
		key  string
		took time.Duration
	}
	outs := make(chan timed, n)
	for i := range n {
		go func() {
			start := time.Now()
			p, replayed, err := c.PayReplayed(context.Background(), 7, PayRequest{Key: fmt.Sprint("k", i), Amount: 5, Merchant: "m"})
			outs <- timed{payOutcome{p, replayed, err}, fmt.Sprint("k", i), time.Since(start)}
		}()
	}
	notSent := map[string]bool{}
	for range n {
		o := <-outs
		if o.took > 2*timeout+200*time.Millisecond {
			t.Errorf("a call ended after %v, want about one attempt's timeout (%v)", o.took.Round(time.Millisecond), timeout)
		}
		var e *Error
		switch {
		case errors.Is(o.err, ErrUnknownOutcome):
		case errors.As(o.err, &e) && e.Code == CodeUnavailable && strings.Contains(e.Message, "not sent"):
			notSent[o.key] = true
		default:
			t.Errorf("a call behind requests that never come back: %+v %v, want unknown or not sent", o.p, o.err)
		}
	}
	<-first
	singles, batches := f.sent()
	for _, b := range append(batches, singles) {
		for _, k := range b {
			if notSent[k] {
				t.Errorf("call %s said not sent, and the node got it", k)
			}
		}
	}
	t.Logf("%d of %d calls not sent", len(notSent), n)
}

// TestSharedRequestsLearnNoLeader: a coalesced request (as PayBatch's,
// which is marked shared the same way) is answered by whichever node took
// it, forwarding the shares it does not lead: its success does not make
// that node the leader the client sends the next calls to, as a single
// request's does.
func TestSharedRequestsLearnNoLeader(t *testing.T) {
	f := &fakePayNode{t: t, answer: func(string, bool) *api.Error { return nil }}
	hs := httptest.NewServer(f)
	defer hs.Close()
	node := strings.TrimPrefix(hs.URL, "http://")
	c, err := New([]string{node})
	if err != nil {
		t.Fatal(err)
	}
	const known = "127.0.0.1:7"
	c.setLeader(nil, known)
	items := []*waiter{{user: 7, req: PayRequest{Key: "a", Amount: 5, Merchant: "m"}, out: new(Payment), done: make(chan struct{})},
		{user: 8, req: PayRequest{Key: "b", Amount: 5, Merchant: "m"}, out: new(Payment), done: make(chan struct{})}}
	c.sendCoalesced(node, items)
	if items[0].err != nil || items[1].err != nil {
		t.Fatalf("coalesced: %v, %v", items[0].err, items[1].err)
	}
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	if leader != known {
		t.Fatalf("after batches answered by %s the client's leader is %q, want it left at %q", node, leader, known)
	}
}
