package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
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
		w.Write([]byte(`{"error":{"code":"` + code + `","message":"amount 1999 exceeds available credit 50"}}`))
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
// and prints it before sending; when the outcome is unknown it prints the
// command that settles it, with that same key.
func TestPayKeyPrintedAndRetryHint(t *testing.T) {
	addr := fakeNode(t, lostReply)
	var out, errOut bytes.Buffer
	if code := run([]string{"pay", "42", "19.99", "--merchant", "books", "--addr", addr, "--timeout", "3s"}, &out, &errOut); code != exitUnknown {
		t.Fatalf("exit %d, want %d: %s", code, exitUnknown, errOut.String())
	}
	m := regexp.MustCompile(`key: (pay-[0-9a-f]{32})\n`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("no random key printed before the request:\n%s", errOut.String())
	}
	if want := "rzone pay 42 19.99 --key " + m[1] + ` --merchant "books"`; !strings.Contains(errOut.String(), want) {
		t.Fatalf("no retry command with the same key (want %q):\n%s", want, errOut.String())
	}
	if a, b := newKey("pay"), newKey("pay"); a == b {
		t.Fatalf("two keys alike: %s", a)
	}
}
