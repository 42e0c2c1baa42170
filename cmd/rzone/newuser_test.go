package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/testnet"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNewUserPath walks the README's "Trying it" path on a real `rzone dev`
// process: create an account, pay, replay (200, same payment), reuse the key
// with another amount (409), overspend (422), send a negative amount (400),
// and see the payment booked into a bill within a few seconds; then the
// cluster's view: 3 zones with a leader, 3 voters and async followers each,
// 100 shards spread over them, and payments for users 0..299 through the
// one address.
func TestNewUserPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, api := startDev(t)

	base := "https://" + api // rzone dev is secure: call sends RZONE_TOKEN, trusting RZONE_CA
	steps := []struct {
		name, method, path, body string
		status                   int
		code                     string // error code, if an error
	}{
		{"create account", "PUT", "/v1/accounts/42", `{"credit_limit":500000}`, 200, ""},
		{"pay", "POST", "/v1/accounts/42/payments", `{"key":"order-1","amount":1999,"merchant":"books"}`, 201, ""},
		{"replay", "POST", "/v1/accounts/42/payments", `{"key":"order-1","amount":1999,"merchant":"books"}`, 200, ""},
		{"reuse key, other amount", "POST", "/v1/accounts/42/payments", `{"key":"order-1","amount":2000,"merchant":"books"}`, 409, "idempotency_conflict"},
		{"overspend", "POST", "/v1/accounts/42/payments", `{"key":"order-2","amount":600000,"merchant":"books"}`, 422, "insufficient_credit"},
		{"negative amount", "POST", "/v1/accounts/42/payments", `{"key":"order-3","amount":-5,"merchant":"books"}`, 400, "invalid_argument"},
		{"unknown field", "POST", "/v1/accounts/42/payments", `{"key":"order-4","amount":5,"tip":1}`, 400, "invalid_argument"},
		{"no such account", "GET", "/v1/accounts/43", "", 404, "not_found"},
	}
	var first string
	for _, s := range steps {
		status, body := call(t, s.method, base+s.path, s.body)
		if status != s.status {
			t.Fatalf("%s: status %d, want %d: %s", s.name, status, s.status, body)
		}
		if s.code != "" {
			var e struct {
				Error struct{ Code, Message string }
			}
			if json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != s.code || e.Error.Message == "" {
				t.Fatalf("%s: body %s, want code %s with a message", s.name, body, s.code)
			}
		}
		switch s.name {
		case "pay":
			first = body
		case "replay":
			// The same payment: the same identity and log index. Its
			// status may have moved on from accepted to posted, since the
			// poster books payments into bills every 20ms.
			if samePayment(body) != samePayment(first) {
				t.Fatalf("replay returned %s, want the original %s", body, first)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := call(t, "GET", base+"/v1/accounts/42/bills", "")
		var bl struct{ Bills []struct{ Principal int64 } }
		if json.Unmarshal([]byte(body), &bl) == nil && len(bl.Bills) == 1 && bl.Bills[0].Principal == 1999 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment not booked into a bill within 5s: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, acct := call(t, "GET", base+"/v1/accounts/42", "")
	if !strings.Contains(acct, `"used":1999`) || !strings.Contains(acct, `"pending":0`) {
		t.Fatalf("account after posting: %s", acct)
	}

	var zl struct {
		Zones []struct {
			Zone, Leader string
			Voters       []struct{ Node string }
			Followers    []struct {
				Node       string
				LagEntries uint64 `json:"lag_entries"`
			}
		}
	}
	_, body := call(t, "GET", base+"/v1/zones", "")
	if err := json.Unmarshal([]byte(body), &zl); err != nil || len(zl.Zones) != 3 {
		t.Fatalf("zones: %v %s", err, body)
	}
	for _, z := range zl.Zones {
		if z.Leader == "" || len(z.Voters) != 3 || len(z.Followers) != 3 {
			t.Fatalf("zone %s: leader %q, %d voters, %d followers", z.Zone, z.Leader, len(z.Voters), len(z.Followers))
		}
	}
	var rt struct{ Shards []struct{ Zone string } }
	_, body = call(t, "GET", base+"/v1/routes", "")
	if err := json.Unmarshal([]byte(body), &rt); err != nil || len(rt.Shards) != 100 {
		t.Fatalf("routes: %v %s", err, body)
	}
	spread := map[string]int{}
	for _, s := range rt.Shards {
		spread[s.Zone]++
	}
	if len(spread) != 3 || spread["A"] < 33 || spread["B"] < 33 || spread["C"] < 33 {
		t.Fatalf("shards not spread over 3 zones: %v", spread)
	}
	for u := 0; u < 300; u++ {
		if st, b := call(t, "PUT", fmt.Sprintf("%s/v1/accounts/%d", base, u), `{"credit_limit":500000}`); st != 200 {
			t.Fatalf("account %d: %d %s", u, st, b)
		}
		if st, b := call(t, "POST", fmt.Sprintf("%s/v1/accounts/%d/payments", base, u), `{"key":"user-path","amount":10}`); st != 201 {
			t.Fatalf("pay %d: %d %s", u, st, b)
		}
	}

	// The month's statement run, watched to the end: plain lines (no
	// terminal), every one of the 300 users with a bill, and user 42's
	// outbox holds the statement.
	cycle := time.Now().UTC().Format("200601")
	deadline = time.Now().Add(10 * time.Second)
	for u := 0; u < 300; u += 299 {
		for {
			st, body := call(t, "GET", fmt.Sprintf("%s/v1/accounts/%d/bills/%s", base, u, cycle), "")
			if st == 200 && !strings.Contains(body, `"principal":0,`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("user %d's payment not posted: %d %s", u, st, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // the poster books the rest of the 300
	out, err := exec.Command(bin, "job", "run", "statement", "--cycle", cycle, "--watch", "--addr", api, "--timeout", "60s").CombinedOutput()
	t.Logf("rzone job run statement --watch:\n%s", out)
	if err != nil || !strings.Contains(string(out), "done: 300 users") || strings.Contains(string(out), "\r") {
		t.Fatalf("job run: %v", err)
	}
	_, body = call(t, "GET", base+"/v1/accounts/42/notifications", "")
	if !strings.Contains(body, `"job":"statement"`) || !strings.Contains(body, `"amount":2009`) {
		t.Fatalf("user 42's outbox after the statement run: %s", body)
	}
}

// samePayment is a payment body's identity: what a replay must return
// unchanged.
func samePayment(body string) string {
	var p struct {
		Key       string `json:"key"`
		Merchant  string `json:"merchant"`
		CreatedAt string `json:"created_at"`
		User      uint64 `json:"user"`
		Index     uint64 `json:"index"`
		Amount    int64  `json:"amount"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return "not a payment: " + body
	}
	return fmt.Sprintf("%s/%d/%d/%s/%s/%d", p.Key, p.User, p.Amount, p.Merchant, p.CreatedAt, p.Index)
}

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	hc := http.DefaultClient
	if strings.HasPrefix(url, "https://") {
		// As the README's curl lines: --cacert "$RZONE_CA" -H
		// "Authorization: Bearer $RZONE_TOKEN".
		conf, err := client.LoadCA(os.Getenv("RZONE_CA"))
		if err != nil {
			t.Fatal(err)
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
		req.Header.Set("Authorization", "Bearer "+os.Getenv("RZONE_TOKEN"))
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// startDev builds rzone, starts `rzone dev` (secure, as a new user gets
// it) on free ports, waits until its cluster is ready, sets RZONE_CA and
// RZONE_TOKEN from the export lines it prints (so that every rzone
// command the test runs reaches it as the README says), and stops it with
// SIGINT when the test ends. It returns the binary and the first node's
// API address.
func startDev(t *testing.T) (bin, api string) {
	t.Helper()
	bin = buildRzone(t)
	p := testnet.PortRun(t, 27) // nine API ports, nine Raft ports, nine gossip ports
	api = fmt.Sprintf("127.0.0.1:%d", p)
	cmd := exec.Command(bin, "dev", "--http-addr", api, "--raft-addr", fmt.Sprintf("127.0.0.1:%d", p+9),
		"--gossip-addr", fmt.Sprintf("127.0.0.1:%d", p+18))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Error("rzone dev did not stop on SIGINT within 15s")
		}
	})
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var ca, token string
		for sc.Scan() {
			line := sc.Text()
			t.Log("dev: " + line)
			if v, ok := strings.CutPrefix(line, "export RZONE_CA="); ok {
				ca = v
			}
			if v, ok := strings.CutPrefix(line, "export RZONE_TOKEN="); ok {
				token = v
			}
			if ca != "" && token != "" {
				ready <- [2]string{ca, token}
				ca, token = "", ""
			}
		}
	}()
	select {
	case got := <-ready:
		t.Setenv("RZONE_CA", got[0])
		t.Setenv("RZONE_TOKEN", got[1])
	case <-time.After(60 * time.Second):
		t.Fatal("rzone dev printed no RZONE_CA and RZONE_TOKEN lines in 60s")
	}
	return bin, api
}

// buildRzone builds this package's binary into the test's temp folder.
func buildRzone(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rzone")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}
