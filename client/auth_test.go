package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTokenSentAndRefusalsNotRetried: the client sends its token as a
// bearer token and never retries a 401 or a 403.
func TestTokenSentAndRefusalsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"unauthenticated", 401, `{"error":{"code":"unauthenticated","message":"unauthenticated"}}`, ErrUnauthenticated},
		{"permission denied", 403, `{"error":{"code":"permission_denied","message":"permission denied"}}`, ErrPermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if got := r.Header.Get("Authorization"); got != "Bearer s3cret" {
					t.Errorf("Authorization %q", got)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer hs.Close()
			c, err := New([]string{strings.TrimPrefix(hs.URL, "http://")}, WithToken("s3cret"),
				WithBackoff(time.Millisecond, time.Millisecond), WithMaxRetries(5), WithRouting(false))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetAccount(context.Background(), 7)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("%d calls, want 1 (no retry)", n)
			}
		})
	}
}
