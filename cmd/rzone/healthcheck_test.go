package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHealthcheck: `rzone healthcheck` exits 0 while the node's /readyz
// answers 200 and 1 (Docker's unhealthy) while it answers 503 or nothing
// listens.
func TestHealthcheck(t *testing.T) {
	var ready atomic.Bool
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		asked.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if ready.Load() {
			w.Write([]byte(`{"status":"ready"}`))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"not_initialized","message":"the cluster is not initialized"}}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	t.Setenv("RZONE_CA", "")
	t.Setenv("RZONE_TOKEN", "")
	t.Setenv("RZONE_TOKEN_FILE", t.TempDir()+"/none")

	check := func(addr string) (int, string) {
		var out, errOut bytes.Buffer
		code := run([]string{"healthcheck", "--addr", addr, "--timeout", "2s"}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := check(addr); code != 1 || !strings.Contains(out, "not initialized") {
		t.Errorf("not ready: exit %d, %q; want 1", code, out)
	}
	ready.Store(true)
	if code, out := check(addr); code != 0 {
		t.Errorf("ready: exit %d, %q; want 0", code, out)
	}
	if asked.Load() != 2 {
		t.Errorf("/readyz asked %d times, want 2", asked.Load())
	}
	srv.Close()
	if code, out := check(addr); code != 1 {
		t.Errorf("nothing listening: exit %d, %q; want 1", code, out)
	}
}
