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
