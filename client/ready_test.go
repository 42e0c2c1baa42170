package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestReady asks /readyz of the node it is given, and of no other: the
// node's refusal comes back as its error, and nil once it answers 200.
func TestReady(t *testing.T) {
	var ready atomic.Bool
	var other atomic.Int64
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.Error(w, `{"error":{"code":"not_found","message":"no route"}}`, http.StatusNotFound)
			return
		}
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"zone A has no leader"}}`))
			return
		}
		w.Write([]byte(`{"status":"ready"}`))
	}))
	defer node.Close()
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.Add(1)
		w.Write([]byte(`{"status":"ready"}`))
	}))
	defer elsewhere.Close()
	addr := strings.TrimPrefix(node.URL, "http://")
	c, err := New([]string{strings.TrimPrefix(elsewhere.URL, "http://")}, WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ready(context.Background(), addr)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("not ready: %v, want unavailable", err)
	}
	ready.Store(true)
	if err := c.Ready(context.Background(), addr); err != nil {
		t.Fatalf("ready: %v", err)
	}
	if other.Load() != 0 {
		t.Fatalf("Ready asked another node %d times", other.Load())
	}
}
