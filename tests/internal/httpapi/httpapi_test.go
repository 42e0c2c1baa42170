package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// TestClassify checks what each kind of reply says about a write's effect.
func TestClassify(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("case")
		switch key {
		case "created":
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"key":"k","status":"accepted","index":7}`))
		case "replay":
			w.Write([]byte(`{"key":"k","status":"accepted","index":7}`))
		case "declined":
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"error":{"code":"insufficient_credit","message":"no"}}`))
		case "unknown":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unknown_outcome","message":"maybe"}}`))
		case "unavailable":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"no leader"}}`))
		case "isolated":
			w.WriteHeader(http.StatusLocked)
			w.Write([]byte(`{"error":{"code":"account_isolated","message":"zone A is failed over"}}`))
		case "garbage":
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(`<html>proxy</html>`))
		case "hang":
			time.Sleep(500 * time.Millisecond)
		}
	}))
	defer srv.Close()
	c := New(strings.TrimPrefix(srv.URL, "http://"), 200*time.Millisecond)
	ctx := context.Background()
	tests := []struct {
		name      string
		q         string
		want      Outcome
		retryable bool
		code      string
	}{
		{"201 is a new payment", "created", Applied, false, ""},
		{"200 is a replay", "replay", Applied, false, ""},
		{"a decline is a definite answer", "declined", Applied, false, string(api.CodeInsufficientCredit)},
		{"unknown_outcome may have applied", "unknown", Unknown, true, string(api.CodeUnknownOutcome)},
		{"unavailable did not apply", "unavailable", NotApplied, true, string(api.CodeUnavailable)},
		{"account_isolated is a definite refusal", "isolated", NotApplied, false, string(api.CodeAccountIsolated)},
		{"a reply that is not ours may have applied", "garbage", Unknown, true, string(api.CodeInternal)},
		{"a timeout may have applied", "hang", Unknown, true, "transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, created, err := payCase(ctx, c, tt.q)
			if err == nil && (p.Index != 7 || created != (tt.q == "created")) {
				t.Fatalf("payment %+v created=%v", p, created)
			}
			if got := Classify(err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tt.want)
			}
			if err != nil && Retryable(err) != tt.retryable {
				t.Errorf("Retryable(%v) = %v", err, !tt.retryable)
			}
			if got := Code(err); got != tt.code {
				t.Errorf("Code(%v) = %q, want %q", err, got, tt.code)
			}
		})
	}
}

func payCase(ctx context.Context, c *Client, q string) (*api.Payment, bool, error) {
	var p api.Payment
	code, err := c.do(ctx, http.MethodPost, "/v1/accounts/1/payments", map[string][]string{"case": {q}}, api.PayRequest{Key: "k", Amount: 1}, &p)
	if err != nil {
		return nil, false, err
	}
	return &p, code == http.StatusCreated, nil
}

// TestRefusedConnectionDidNotApply: a write that could not connect was
// never sent.
func TestRefusedConnectionDidNotApply(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, _, err = New(addr, time.Second).Pay(context.Background(), 1, api.PayRequest{Key: "k", Amount: 1})
	if err == nil {
		t.Fatal("pay to a closed port succeeded")
	}
	if Classify(err) != NotApplied || !Retryable(err) || Code(err) != "transport" {
		t.Fatalf("closed port: Classify %v, Retryable %v, Code %q (%v)", Classify(err), Retryable(err), Code(err), err)
	}
}
