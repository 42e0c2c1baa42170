package peer

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
)

// TestCallOutcomes: what a JSON call to another node says of its outcome.
// A write that never reached the node is not applied; one whose reply was
// lost or unreadable is unknown; an error reply is the node's own error; a
// read with no answer is unavailable. The hop count travels as a header.
func TestCallOutcomes(t *testing.T) {
	var hops string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops = r.Header.Get(HeaderHops)
		switch r.URL.Path {
		case "/ok":
			json.NewEncoder(w).Encode(map[string]int{"n": 7})
		case "/lost":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case "/refused":
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Errorf(api.CodeVersionConflict, "version 3")})
		case "/garbled":
			w.Write([]byte("{not json"))
		}
	}))
	defer hs.Close()
	addr := strings.TrimPrefix(hs.URL, "http://")
	c := NewClient(nil)
	ctx := context.Background()

	var out struct{ N int }
	if err := c.PostJSON(ctx, addr, "/ok", map[string]int{"x": 1}, &out, Hops(2)); err != nil || out.N != 7 || hops != "2" {
		t.Fatalf("ok: %v %+v, hops %q", err, out, hops)
	}
	if err := c.PostJSON(ctx, addr, "/lost", nil, nil); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("lost reply: %v, want unknown outcome", err)
	}
	if err := c.PostJSON(ctx, addr, "/garbled", nil, &out); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("garbled reply: %v, want unknown outcome", err)
	}
	var ae *api.Error
	if err := c.PostJSON(ctx, addr, "/refused", nil, nil); !errors.As(err, &ae) || ae.Code != api.CodeVersionConflict {
		t.Fatalf("refused: %v, want the node's version_conflict", err)
	}
	// A port nobody listens on: the call never left.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if err := c.PostJSON(ctx, dead, "/ok", nil, nil); !errors.Is(err, ErrNotApplied) || errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("dead node: %v, want not applied", err)
	}
	if err := c.GetJSON(ctx, dead, "/ok", &out); !errors.As(err, &ae) || ae.Code != api.CodeUnavailable {
		t.Fatalf("read of a dead node: %v, want unavailable", err)
	}
	if err := c.GetJSON(ctx, addr, "/lost", &out); !errors.As(err, &ae) || ae.Code != api.CodeUnavailable {
		t.Fatalf("read with a lost reply: %v, want unavailable", err)
	}
}

// TestAnswers: any reply to /healthz counts as an answer; a node that does
// not listen does not answer.
func TestAnswers(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	addr := strings.TrimPrefix(hs.URL, "http://")
	c := NewClient(nil)
	if !c.Answers(context.Background(), addr) {
		t.Error("a node replying 503 does not answer")
	}
	hs.Close()
	if c.Answers(context.Background(), addr) {
		t.Error("a closed node answers")
	}
}
