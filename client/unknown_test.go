package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// TestUnknownOutcomeIsNotMaskedByALaterRefusal: a payment whose first
// attempt reached a node and lost its reply may have been applied; a retry
// that then meets an unavailable node (or any refusal that says only that
// the retry was not applied) must not turn the call into "not applied",
// which would tell the caller a new key is safe and charge twice. Only an
// answer about the key itself settles it.
func TestUnknownOutcomeIsNotMaskedByALaterRefusal(t *testing.T) {
	cases := []struct {
		name  string
		first bool     // cut the first attempt's connection after reading it
		then  api.Code // what every later attempt gets ("" = success)
		want  error
	}{
		{"cut then unavailable", true, api.CodeUnavailable, ErrUnknownOutcome},
		{"cut then lease expired", true, api.CodeLeaseExpired, ErrUnknownOutcome},
		{"cut then unauthenticated", true, api.CodeUnauthenticated, ErrUnknownOutcome},
		{"cut then not found", true, api.CodeNotFound, ErrUnknownOutcome},
		{"cut then invalid", true, api.CodeInvalidArgument, ErrUnknownOutcome},
		{"cut then declined", true, api.CodeInsufficientCredit, ErrInsufficientCredit},
		{"cut then conflict", true, api.CodeIdempotencyConflict, ErrIdempotencyConflict},
		{"cut then applied", true, "", nil},
		{"unavailable throughout", false, api.CodeUnavailable, ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req api.PayRequest
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
					t.Errorf("decode: %v", err)
				}
				if calls.Add(1) == 1 && tc.first {
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.Close()
					return
				}
				w.Header().Set("Content-Type", "application/json")
				if tc.then == "" {
					w.WriteHeader(http.StatusOK)
					json.NewEncoder(w).Encode(api.Payment{User: 7, Key: req.Key, Amount: req.Amount})
					return
				}
				w.WriteHeader(tc.then.HTTPStatus())
				json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Errorf(tc.then, "refused")})
			}))
			defer hs.Close()
			c, err := New([]string{strings.TrimPrefix(hs.URL, "http://")}, WithRouting(false),
				WithMaxRetries(3), WithBackoff(time.Millisecond, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Pay(context.Background(), 7, PayRequest{Key: "k-1", Amount: 100, Merchant: "m"})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("pay: %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("pay: %v, want %v", err, tc.want)
			}
			if n := calls.Load(); n < 2 {
				t.Fatalf("%d attempts, want the call retried", n)
			}
		})
	}
}

// TestProxyErrorOnAWriteIsUnknown: a reply that is not a node's error (a
// proxy's 502 with an HTML body) to a write may hide an applied write: the
// outcome is unknown, and the client retries it with the same key.
func TestProxyErrorOnAWriteIsUnknown(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer hs.Close()
	c, _ := New([]string{strings.TrimPrefix(hs.URL, "http://")}, WithRouting(false), WithMaxRetries(1), WithBackoff(time.Millisecond, time.Millisecond))
	if _, err := c.Pay(context.Background(), 7, PayRequest{Key: "k", Amount: 1, Merchant: "m"}); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("pay behind a 502: %v, want unknown outcome", err)
	}
	if _, err := c.GetAccount(context.Background(), 7); errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("a read behind a 502 is not a write: %v", err)
	}
}

// TestBatchItemUnknownStaysUnknown: an item of a batch whose outcome was
// unknown in one round and that a later round gets only "unavailable" for
// ends unknown, not "not applied"; an item the later round answers with
// the key's own result (here: a decline) takes that answer.
func TestBatchItemUnknownStaysUnknown(t *testing.T) {
	var round atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.BatchRequest
		json.NewDecoder(r.Body).Decode(&req)
		var out api.BatchResponse
		first := round.Add(1) == 1
		for _, p := range req.Payments {
			switch {
			case first:
				out.Results = append(out.Results, api.BatchResult{Status: 500, Error: api.Errorf(api.CodeUnknownOutcome, "commit not confirmed")})
			case p.Key == "a":
				out.Results = append(out.Results, api.BatchResult{Status: 503, Error: api.Errorf(api.CodeUnavailable, "no leader")})
			default:
				out.Results = append(out.Results, api.BatchResult{Status: 422, Error: api.Errorf(api.CodeInsufficientCredit, "declined")})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}))
	defer hs.Close()
	c, _ := New([]string{strings.TrimPrefix(hs.URL, "http://")}, WithRouting(false), WithMaxRetries(3), WithBackoff(time.Millisecond, time.Millisecond))
	res, err := c.PayBatch(context.Background(), []BatchPayment{{User: 1, Key: "a", Amount: 1, Merchant: "m"}, {User: 1, Key: "b", Amount: 1, Merchant: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res[0].Error; e == nil || e.Code != CodeUnknownOutcome {
		t.Fatalf("item a (unknown, then unavailable): %+v, want unknown_outcome", res[0])
	}
	if e := res[1].Error; e == nil || e.Code != CodeInsufficientCredit {
		t.Fatalf("item b (unknown, then declined): %+v, want the decline", res[1])
	}
	if n := round.Load(); n < 2 {
		t.Fatalf("%d rounds, want the unknown items retried", n)
	}
}
