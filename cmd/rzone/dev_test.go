package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// readyCheck is an output writer that, the first time rzone dev prints an
// address, checks right then that every node is ready and serves a write.
type readyCheck struct {
	mu      sync.Mutex
	out     bytes.Buffer
	apis    []string
	checked bool
	failure string
}

func (w *readyCheck) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Write(p)
	if w.checked || !bytes.Contains(p, []byte("http://")) {
		return len(p), nil
	}
	w.checked = true
	for _, a := range w.apis {
		resp, err := http.Get("http://" + a + "/readyz")
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
	req, _ := http.NewRequest(http.MethodPut, "http://"+w.apis[0]+"/v1/accounts/42", strings.NewReader(`{"credit_limit":500000}`))
	resp, err := http.DefaultClient.Do(req)
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

// TestDevPrintsAddressesOnceReady runs `rzone dev` in this process and
// checks, at the moment it first prints an address, that every node's
// /readyz answers 200 and a first write succeeds.
func TestDevPrintsAddressesOnceReady(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 9-node cluster")
	}
	p := freePortRun(t, 27)
	w := &readyCheck{}
	for i := 0; i < 9; i++ {
		w.apis = append(w.apis, fmt.Sprintf("127.0.0.1:%d", p+i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRootCmd()
	cmd.SetOut(w)
	cmd.SetArgs([]string{"dev", "--http-addr", w.apis[0], "--raft-addr", fmt.Sprintf("127.0.0.1:%d", p+9),
		"--gossip-addr", fmt.Sprintf("127.0.0.1:%d", p+18), "--data-dir", t.TempDir(), "--log-level", "error"})
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
}
