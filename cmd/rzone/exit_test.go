package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeNode answers every payment with reply, and the route table with 404
// (a standalone node's client then sends to the address it was given).
func fakeNode(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"not_found","message":"no routes"}}`))
			return
		}
		reply(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func apiError(status int, code string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(`{"error":{"code":"` + code + `","message":"amount 19.99 exceeds available credit 0.50"}}`))
	}
}

// lostReply reads the request and closes the connection without a reply:
// the payment's outcome is unknown to the CLI.
func lostReply(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// lostThen loses the first request's reply and answers every later one
// with then.
func lostThen(then func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			lostReply(w, r)
			return
		}
		then(w, r)
	}
}

// TestExitCodes runs the CLI against a node that declines, loses its reply
// or is unavailable, and against bad arguments: each ends with its own exit
// code, and -o json prints the error as JSON on stdout.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		name  string
		reply func(http.ResponseWriter, *http.Request)
		args  []string
		want  int
	}{
		{"declined", apiError(422, "insufficient_credit"), []string{"pay", "42", "19.99"}, exitRefused},
		{"key conflict", apiError(409, "idempotency_conflict"), []string{"pay", "42", "19.99", "--key", "k1"}, exitRefused},
		{"unknown outcome", lostReply, []string{"pay", "42", "19.99", "--merchant", "books"}, exitUnknown},
		{"unavailable", apiError(503, "unavailable"), []string{"repay", "42", "1"}, exitUnavailable},
		{"lost, then unavailable", nil, []string{"pay", "42", "19.99"}, exitUnknown},
		{"unauthenticated", apiError(401, "unauthenticated"), []string{"pay", "42", "19.99"}, exitUnauth},
		{"permission denied", apiError(403, "permission_denied"), []string{"repay", "42", "1"}, exitUnauth},
		{"lease still valid", apiError(409, "lease_valid"), []string{"pay", "42", "19.99"}, exitRefused},
		{"cluster exists", apiError(409, "cluster_exists"), []string{"pay", "42", "19.99"}, exitRefused},
		{"not a user", nil, []string{"pay", "x", "1"}, exitUsage},
		{"not an amount", nil, []string{"pay", "42", "1.234"}, exitUsage},
		{"missing argument", nil, []string{"pay", "42"}, exitUsage},
		{"unknown flag", nil, []string{"pay", "42", "1", "--nope"}, exitUsage},
	}
	for _, tt := range tests {
		for _, asJSON := range []bool{false, true} {
			name := tt.name
			if asJSON {
				name += "/json"
			}
			t.Run(name, func(t *testing.T) {
				addr := "127.0.0.1:1"
				if tt.reply != nil {
					addr = fakeNode(t, tt.reply)
				}
				if tt.name == "lost, then unavailable" { // a fresh count of requests for each run
					addr = fakeNode(t, lostThen(apiError(503, "unavailable")))
				}
				args := append([]string{}, tt.args...)
				args = append(args, "--addr", addr, "--timeout", "3s")
				if asJSON {
					args = append(args, "-o", "json")
				}
				var out, errOut bytes.Buffer
				if got := run(args, &out, &errOut); got != tt.want {
					t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", got, tt.want, out.String(), errOut.String())
				}
				if asJSON {
					var b errorBody
					if err := json.Unmarshal(out.Bytes(), &b); err != nil || b.ExitCode != tt.want || b.Error.Code == "" {
						t.Fatalf("-o json: stdout is not the error as JSON: %q (%v)", out.String(), err)
					}
				}
			})
		}
	}
}

// TestPayKeyPrintedAndRetryHint: without --key the CLI makes a random key
// and prints it before sending (the node sees a request whose key is
// already on the user's screen); when the outcome is unknown it prints the
// command that settles it, with that same key, the connection flags given,
// and every word quoted for the shell.
func TestPayKeyPrintedAndRetryHint(t *testing.T) {
	var out bytes.Buffer
	var errOut syncBuffer
	var mu sync.Mutex
	var sent []string // each request's key, and whether it was printed by then
	addr := fakeNode(t, func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Key string }
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		sent = append(sent, req.Key, fmt.Sprint(strings.Contains(errOut.String(), "key: "+req.Key+"\n")))
		mu.Unlock()
		lostReply(w, r)
	})
	if code := run([]string{"pay", "42", "19.99", "--merchant", "Bob's books", "--addr", addr, "--timeout", "3s"}, &out, &errOut); code != exitUnknown {
		t.Fatalf("exit %d, want %d: %s", code, exitUnknown, errOut.String())
	}
	m := regexp.MustCompile(`key: (pay-[0-9a-f]{32})\n`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("no random key printed before the request:\n%s", errOut.String())
	}
	mu.Lock()
	if len(sent) == 0 || sent[0] != m[1] || sent[1] != "true" {
		t.Fatalf("the node got keys %v (each with: printed by then?); printed %s", sent, m[1])
	}
	mu.Unlock()
	want := "rzone pay 42 19.99 --key " + m[1] + ` --merchant 'Bob'\''s books' --addr ` + addr + " --timeout 3s"
	if !strings.Contains(errOut.String(), want) {
		t.Fatalf("no retry command with the same key (want %q):\n%s", want, errOut.String())
	}
	if a, b := newKey("pay"), newKey("pay"); a == b {
		t.Fatalf("two keys alike: %s", a)
	}
}

// TestShellQuote: what a retry command prints survives a POSIX shell as
// one word each.
func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"pay-0a1b":       "pay-0a1b",
		"127.0.0.1:7070": "127.0.0.1:7070",
		"Bob's books":    `'Bob'\''s books'`,
		"":               "''",
		"$HOME;rm":       `'$HOME;rm'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestHelpShowsNoSecret: a token or gossip key in the environment is not
// printed by --help (a flag's default is).
func TestHelpShowsNoSecret(t *testing.T) {
	const secret = "s3cr3t-token-value"
	t.Setenv("RZONE_TOKEN", secret)
	t.Setenv("RZONE_GOSSIP_KEY", secret)
	for _, args := range [][]string{{"pay", "--help"}, {"server", "--help"}, {"bench", "pay", "--help"}, {"healthcheck", "--help"}, {"status", "--help"}} {
		var out, errOut bytes.Buffer
		run(args, &out, &errOut)
		if strings.Contains(out.String()+errOut.String(), secret) {
			t.Errorf("rzone %s prints the secret from the environment", strings.Join(args, " "))
		}
		if strings.Contains(out.String(), "--token rzone") {
			t.Errorf("rzone %s: garbled --token help: %s", strings.Join(args, " "), out.String())
		}
	}
}
