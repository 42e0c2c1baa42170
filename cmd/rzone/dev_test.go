package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/rzonedb/rzone/internal/testnet"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
)

// readyCheck is an output writer that, the first time rzone dev prints an
// address, checks right then that every node is ready and serves a write.
type readyCheck struct {
	mu      sync.Mutex
	out     bytes.Buffer
	apis    []string
	dataDir string // rzone dev's: its CA and admin token are there
	checked bool
	failure string
}

func (w *readyCheck) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Write(p)
	if w.checked || !bytes.Contains(p, []byte("https://")) {
		return len(p), nil
	}
	w.checked = true
	conf, err := client.LoadCA(filepath.Join(w.dataDir, "certs", "ca.crt"))
	if err != nil {
		w.failure = err.Error()
		return len(p), nil
	}
	token, _ := os.ReadFile(filepath.Join(w.dataDir, "admin.token"))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	for _, a := range w.apis {
		resp, err := hc.Get("https://" + a + "/readyz")
		if err != nil {
			w.failure = fmt.Sprintf("%q printed while %s/readyz fails: %v", p, a, err)
			return len(p), nil
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			w.failure = fmt.Sprintf("%q printed while %s/readyz answers %d", p, a, resp.StatusCode)
			return len(p), nil
		}
	}
	req, _ := http.NewRequest(http.MethodPut, "https://"+w.apis[0]+"/v1/accounts/42", strings.NewReader(`{"credit_limit":500000}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := hc.Do(req)
	if err != nil {
		w.failure = fmt.Sprintf("first write once the address was printed: %v", err)
		return len(p), nil
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.failure = fmt.Sprintf("first write once the address was printed: %d", resp.StatusCode)
	}
	return len(p), nil
}

// TestDevPrintsAddressesOnceReady runs `rzone dev` (secure, the default)
// in this process and checks, at the moment it first prints an address,
// that every node's /readyz answers 200 over TLS and a first write with
// the admin token succeeds; and that it prints the export lines.
func TestDevPrintsAddressesOnceReady(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 9-node cluster")
	}
	p := testnet.PortRun(t, 27)
	w := &readyCheck{dataDir: t.TempDir()}
	for i := 0; i < 9; i++ {
		w.apis = append(w.apis, fmt.Sprintf("127.0.0.1:%d", p+i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRootCmd()
	cmd.SetOut(w)
	cmd.SetArgs([]string{"dev", "--http-addr", w.apis[0], "--raft-addr", fmt.Sprintf("127.0.0.1:%d", p+9),
		"--gossip-addr", fmt.Sprintf("127.0.0.1:%d", p+18), "--data-dir", w.dataDir, "--log-level", "error"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	deadline := time.After(90 * time.Second)
	for {
		w.mu.Lock()
		ready := strings.Contains(w.out.String(), "cluster ready")
		w.mu.Unlock()
		if ready {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("rzone dev ended: %v\n%s", err, w.out.String())
		case <-deadline:
			t.Fatalf("rzone dev not ready in 90s:\n%s", w.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.checked || w.failure != "" {
		t.Fatalf("checked %v: %s\noutput:\n%s", w.checked, w.failure, w.out.String())
	}
	for _, line := range []string{"export RZONE_TOKEN=rzt_", "export RZONE_CA=" + filepath.Join(w.dataDir, "certs", "ca.crt")} {
		if !strings.Contains(w.out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, w.out.String())
		}
	}
}
