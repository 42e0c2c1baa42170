package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/rzonedb/rzone/internal/testnet"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// syncBuffer is rzone dev's output, read while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// chromiumPath finds a Chromium (or Chrome) to drive, or "".
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startDevInProcess runs `rzone dev` in this process with 3 zones of one
// node each and returns the console URL it printed.
func startDevInProcess(t *testing.T) devAccess {
	t.Helper()
	p := testnet.PortRun(t, 9)
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRootCmd()
	cmd.SetOut(out)
	cmd.SetArgs([]string{"dev", "--nodes-per-zone", "1", "--http-addr", fmt.Sprintf("127.0.0.1:%d", p),
		"--raft-addr", fmt.Sprintf("127.0.0.1:%d", p+3), "--gossip-addr", fmt.Sprintf("127.0.0.1:%d", p+6),
		"--data-dir", t.TempDir(), "--log-level", "error"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("rzone dev: %v", err)
		}
	})
	ui := regexp.MustCompile(`console: (https?://\S+/ui/)`)
	token := regexp.MustCompile(`export RZONE_TOKEN=(\S+)`)
	ca := regexp.MustCompile(`export RZONE_CA=(\S+)`)
	deadline := time.After(90 * time.Second)
	for {
		if m := ui.FindStringSubmatch(out.String()); m != nil {
			d := devAccess{ui: m[1]}
			if m := token.FindStringSubmatch(out.String()); m != nil {
				d.token = m[1]
			}
			if m := ca.FindStringSubmatch(out.String()); m != nil {
				d.ca = m[1]
			}
			return d
		}
		select {
		case err := <-done:
			t.Fatalf("rzone dev ended: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("rzone dev printed no console URL in 90s:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// devAccess is how to reach a secure `rzone dev`: its console's URL, the
// admin token and the cluster CA's certificate file it printed.
type devAccess struct{ ui, token, ca string }

// cli runs the rzone CLI in this process against d's first node, with its
// token and CA, and returns what it printed (logged as a shell session).
func (d devAccess) cli(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	u, err := url.Parse(d.ui)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	shown := strings.Join(args, " ")
	args = append(args, "--addr", u.Host)
	if d.token != "" {
		args = append(args, "--token", d.token)
	}
	if d.ca != "" {
		args = append(args, "--ca", d.ca)
	}
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = root.ExecuteContext(ctx)
	t.Logf("$ rzone %s\n%s", shown, out.String())
	return out.String(), err
}

// caller returns a call function that sends requests with the CA trusted
// and the token as its bearer.
func (d devAccess) caller(t *testing.T) func(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	pool := x509.NewCertPool()
	if d.ca != "" {
		pem, err := os.ReadFile(d.ca)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return func(t *testing.T, method, url, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if d.token != "" {
			req.Header.Set("Authorization", "Bearer "+d.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
}

// TestConsoleInBrowser drives the web console in headless Chromium
// against an in-process `rzone dev`: the cluster page shows three zones
// with a leader each; after a payment load the payments/s chart has
// non-zero points; a failover started from the zone page moves the zone
// through failing_over and failover and a recover brings it back to normal,
// the timeline showing each step; a statement run started from the runs
// page reaches 100 % with its users/s shown; an account lookup shows the
// payment and its bill. It writes a PNG of every page at 1280x800 and at
// 390 px wide to a folder named in the log.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster and a browser")
	}
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("no Chromium found (apt-get install chromium; .ci/run installs it): the console's browser tests cannot run")
	}
	shots := os.Getenv("RZONE_CONSOLE_SHOTS")
	if shots == "" {
		var err error
		if shots, err = os.MkdirTemp("", "rzone-console-shots-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots go to %s", shots)

	dev := startDevInProcess(t)
	if dev.token == "" || !strings.HasPrefix(dev.ui, "https://") {
		t.Fatalf("rzone dev runs open (console %s); the console must be tried with security on", dev.ui)
	}
	ui, call := dev.ui, dev.caller(t)
	base := strings.TrimSuffix(ui, "/ui/")

	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 800),
		// The dev cluster's CA is its own; the browser is not told of it.
		chromedp.Flag("ignore-certificate-errors", true))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	ctx, cancel := context.WithTimeout(bctx, 150*time.Second)
	defer cancel()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitTrue waits until the JavaScript expression is true.
	waitTrue := func(what, expr string, d time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d))); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, text)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return s
	}
	// goTo switches the console's page as its menu does, without a reload.
	goTo := func(hash string) {
		t.Helper()
		eval(`location.hash = "` + hash + `"`)
	}
	shoot := func(page string) {
		t.Helper()
		for _, size := range []struct {
			name string
			w, h int64
		}{{"1280x800", 1280, 800}, {"390", 390, 844}} {
			do("resize for "+page, chromedp.EmulateViewport(size.w, size.h), chromedp.Sleep(300*time.Millisecond))
			shot := chromedp.CaptureScreenshot()
			if size.w < 1000 {
				shot = chromedp.FullScreenshot(100) // the whole narrow page, as a phone scrolls it
			}
			png, err := chromedp.Run(ctx, shot)
			if err != nil {
				t.Fatalf("screenshot of %s: %v", page, err)
			}
			if err := os.WriteFile(filepath.Join(shots, page+"-"+size.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		do("restore the viewport", chromedp.EmulateViewport(1280, 800))
	}

	// Cluster: three zones, each with a leader.
	// With security on, the console asks for a token: the page says so
	// until one is typed into its token field.
	do("open the console", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(ui))
	waitTrue("the console asks for a token", `document.body.innerText.includes('wants an API token')`, 20*time.Second)
	do("type the token", chromedp.SetValue(chromedp.CSS("#token"), dev.token))
	eval(`document.getElementById('token-form').requestSubmit(), "sent"`)
	waitTrue("three zone cards with a leader", `document.querySelectorAll('.zone-card[data-leader]:not([data-leader=""])').length === 3`, 20*time.Second)
	waitTrue("gossip members listed", `document.querySelectorAll('#members-table tbody tr').length === 3`, 10*time.Second)
	shoot("cluster")

	// A payment load while the charts page is open.
	goTo("#/charts")
	waitTrue("charts drawn", `!!document.getElementById('chart-payments')`, 10*time.Second)
	status, body := call(t, "PUT", base+"/v1/accounts/42", `{"credit_limit":500000}`)
	if status != http.StatusOK {
		t.Fatalf("create account 42: %d %s", status, body)
	}
	status, body = call(t, "POST", base+"/v1/accounts/42/payments", `{"key":"console-order","amount":1999,"merchant":"books"}`)
	if status != http.StatusCreated {
		t.Fatalf("pay: %d %s", status, body)
	}
	var paid struct{ Cycle string }
	if err := json.Unmarshal([]byte(body), &paid); err != nil || paid.Cycle == "" {
		t.Fatalf("payment reply %s: %v", body, err)
	}
	payLoad(t, call, base, 3*time.Second)
	waitTrue("payments/s above zero", `Number(document.getElementById('chart-payments').dataset.max) > 0`, 15*time.Second)
	waitTrue("apply latency drawn", `Number(document.getElementById('chart-latency').dataset.points) > 0`, 5*time.Second)
	shoot("charts")

	// Zone: fail zone A over and recover it from its page.
	goTo("#/zone/A")
	waitTrue("zone A normal", `document.querySelector('.zone-card[data-zone="A"]')?.dataset.phase === 'normal' && !document.getElementById('failover-btn').disabled`, 10*time.Second)
	do("ask to fail over", chromedp.Click(chromedp.CSS("#failover-btn")))
	waitTrue("confirmation shown", `document.getElementById('confirm').open`, 5*time.Second)
	if q := eval(`document.getElementById('confirm').innerText`); !strings.Contains(q, "zone A") || !strings.Contains(q, "lease is valid") {
		t.Fatalf("the confirmation does not name the zone and its lease state:\n%s", q)
	}
	do("confirm the failover", chromedp.Click(chromedp.CSS("#confirm-ok")))
	waitTrue("card in failing_over", `document.querySelector('.zone-card[data-zone="A"]')?.dataset.phase === 'failing_over'`, 10*time.Second)
	waitTrue("card in failover", `document.querySelector('.zone-card[data-zone="A"]')?.dataset.phase === 'failover'`, 30*time.Second)
	waitTrue("timeline: started, lease end, promoted", `['started','lease end','promoted'].every(s => document.querySelector('#timeline li[data-step="'+s+'"]')?.classList.contains('done'))`, 10*time.Second)
	// User 42 lives in zone A: the failover store takes this payment.
	// The same key again after a 503, as a client retries.
	for try := 0; ; try++ {
		status, body := call(t, "POST", base+"/v1/accounts/42/payments", `{"key":"during-failover","amount":725,"merchant":"books"}`)
		if status == http.StatusCreated || status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || try == 20 {
			t.Fatalf("pay during the failover: %d %s", status, body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	waitTrue("the store's payment shown", `document.getElementById('store-payments')?.textContent === '1' && document.getElementById('store-amount')?.textContent === '7.25'`, 10*time.Second)
	shoot("zone-failover")
	waitTrue("recover enabled", `!document.getElementById('recover-btn').disabled`, 5*time.Second)
	do("ask to recover", chromedp.Click(chromedp.CSS("#recover-btn")))
	waitTrue("confirmation shown", `document.getElementById('confirm').open`, 5*time.Second)
	if q := eval(`document.getElementById('confirm').innerText`); !strings.Contains(q, "zone A") || !strings.Contains(q, "phase failover") {
		t.Fatalf("the recover confirmation does not name the zone and its state:\n%s", q)
	}
	do("confirm the recover", chromedp.Click(chromedp.CSS("#confirm-ok")))
	waitTrue("card back to normal", `document.querySelector('.zone-card[data-zone="A"]')?.dataset.phase === 'normal'`, 60*time.Second)
	waitTrue("timeline: recovering, recovered", `['recovering','recovered'].every(s => document.querySelector('#timeline li[data-step="'+s+'"]')?.classList.contains('done'))`, 10*time.Second)
	seen := eval(`[...document.querySelectorAll('#phase-log li')].map(li => li.dataset.phase).join(' ')`)
	if !regexp.MustCompile(`^normal failing_over failover( reconciling)? normal$`).MatchString(seen) {
		t.Fatalf("phases seen by the page: %q, want normal failing_over failover [reconciling] normal", seen)
	}
	waitTrue("reconciliation report", `!!document.querySelector('#report dl')`, 5*time.Second)
	shoot("zone")

	// Runs: wait for the payment's bill, then start a statement run.
	waitBill(t, call, base, 42, paid.Cycle)
	goTo("#/runs")
	do("start a statement run", chromedp.WaitVisible(chromedp.CSS("#run-cycle")),
		chromedp.SetValue(chromedp.CSS("#run-cycle"), paid.Cycle), chromedp.SetValue(chromedp.CSS("#run-job"), "statement"),
		chromedp.Click(chromedp.CSS("#run-start")))
	waitTrue("statement run at 100 %", `[...document.querySelectorAll('.run-card')].some(c => c.dataset.state === 'done' && c.dataset.pct === '100')`, 60*time.Second)
	ups := eval(`document.querySelector('.run-card[data-state="done"] .users-per-s b').textContent`)
	if ups == "" || ups == "–" || ups == "0" {
		t.Fatalf("users/s of the finished run shows %q", ups)
	}
	if pts := eval(`document.querySelector('.run-card[data-state="done"] svg.chart').dataset.points`); pts == "" || pts == "0" {
		t.Fatalf("the run's concurrency limit chart has no points")
	}
	shoot("runs")

	// Account: the payment and its bill.
	goTo("#/account")
	do("look up account 42", chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SetValue(chromedp.CSS("#user"), "42"), chromedp.Click(chromedp.CSS("#lookup")))
	waitTrue("payments listed", `['console-order','during-failover'].every(k => !!document.querySelector('#payments-table tr[data-key="'+k+'"]'))`, 10*time.Second)
	waitTrue("bill listed", `!!document.querySelector('#bills tr[data-cycle="`+paid.Cycle+`"]')`, 5*time.Second)
	if fig := eval(`document.getElementById('account-figures').innerText`); !strings.Contains(fig, "5,000.00") {
		t.Fatalf("account figures do not show the credit limit 5,000.00:\n%s", fig)
	}
	shoot("account")

	// Payments are paged: user 100 has one per load round.
	do("look up account 100", chromedp.SetValue(chromedp.CSS("#user"), "100"), chromedp.Click(chromedp.CSS("#lookup")))
	waitTrue("first page of user 100", `document.querySelectorAll('#payments-table tbody tr').length === 20 && !!document.getElementById('payments-next')`, 10*time.Second)
	first := eval(`[...document.querySelectorAll('#payments-table tbody tr')].map(r => r.dataset.key).join(' ')`)
	do("next page", chromedp.Click(chromedp.CSS("#payments-next")))
	waitTrue("second page of user 100", `document.querySelectorAll('#payments-table tbody tr').length === `+fmt.Sprint(loadRounds-20), 10*time.Second)
	second := eval(`[...document.querySelectorAll('#payments-table tbody tr')].map(r => r.dataset.key).join(' ')`)
	if len(strings.Fields(first)) != 20 || strings.Contains(" "+first+" ", " "+strings.Fields(second)[0]+" ") {
		t.Fatalf("pages overlap or are short: %q then %q", first, second)
	}
}

// loadRounds is how many payment batches payLoad sends: one payment for
// each of users 100..149 per round.
const loadRounds = 25

// payLoad sends loadRounds batches of payments, one for each of users
// 100..149, over about d.
func payLoad(t *testing.T, call func(*testing.T, string, string, string) (int, string), base string, d time.Duration) {
	t.Helper()
	var accts []string
	for u := 100; u < 150; u++ {
		accts = append(accts, fmt.Sprintf(`{"user":%d,"credit_limit":10000000}`, u))
	}
	if st, body := call(t, "POST", base+"/v1/accounts/batch", `{"accounts":[`+strings.Join(accts, ",")+`]}`); st != http.StatusOK {
		t.Fatalf("account batch: %d %s", st, body)
	}
	for round := 0; round < loadRounds; round++ {
		var pays []string
		for u := 100; u < 150; u++ {
			pays = append(pays, fmt.Sprintf(`{"user":%d,"key":"load-%d","amount":100,"merchant":"load"}`, u, round))
		}
		if st, body := call(t, "POST", base+"/v1/payments/batch", `{"payments":[`+strings.Join(pays, ",")+`]}`); st != http.StatusOK {
			t.Fatalf("payment batch: %d %s", st, body)
		}
		time.Sleep(d / loadRounds)
	}
}

// waitBill waits until the user's payment is booked into the bill of cycle.
func waitBill(t *testing.T, call func(*testing.T, string, string, string) (int, string), base string, user int, cycle string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, body := call(t, "GET", fmt.Sprintf("%s/v1/accounts/%d/bills/%s", base, user, cycle), "")
		if st == http.StatusOK && !strings.Contains(body, `"payments":0`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bill of %s for user %d: %d %s", cycle, user, st, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
