package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/internal/testnet"
)

// TestBatchShareForwardFailures: a zone's share of a batch that this node
// forwards to the zone's leader takes, for each item, what the forward
// says of it: unavailable when it provably never got there (nothing
// listens), the leader's own refusal of the whole share as the leader gave
// it, unknown when it may have been applied (the reply lost, or none within
// the forward's bound, as long as a single request forwarded waits).
func TestBatchShareForwardFailures(t *testing.T) {
	closed := testnet.Addrs(t, 1)[0] // nothing listens there
	serve := func(h http.HandlerFunc) string {
		hs := httptest.NewServer(h)
		t.Cleanup(hs.Close)
		return strings.TrimPrefix(hs.URL, "http://")
	}
	release := make(chan struct{})
	defer close(release)
	cases := []struct {
		name string
		addr string
		want api.Code
	}{
		{"nothing listens", closed, api.CodeUnavailable},
		{"the leader refuses the share", serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Errorf(api.CodeLeaseExpired, "lease expired")})
		}), api.CodeLeaseExpired},
		{"the reply is lost", serve(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}), api.CodeUnknownOutcome},
		{"no reply in time", serve(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}), api.CodeUnknownOutcome},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			meta := fsm.NewMeta(nil)
			m := New(fakeHost{meta: meta}, Config{NodeID: "a1", Zone: "A", Clustered: true, LeaderWait: 10 * time.Millisecond,
				ForwardTimeout: 300 * time.Millisecond, Peer: peer.NewClient(nil), Stop: make(chan struct{})})
			var idx uint64
			metaApply(t, meta, &idx, fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
			metaApply(t, meta, &idx, fsm.MetaCmd{Type: fsm.MetaSetNodeAddr, Node: &fsm.NodeInfo{ID: "b1", Zone: "B", RaftAddr: "127.0.0.1:9", HTTPAddr: tc.addr}})
			var user uint64
			for user = 1; ; user++ {
				if z, _, _ := m.Route(user); z == "B" {
					break
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			res := ApplyBatch(m, ctx, PayBatch, []api.BatchPayment{{User: user, Key: "k1", Amount: 5, Merchant: "m"}, {User: user, Key: "k2", Amount: 5, Merchant: "m"}}, 0)
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("the forward took %v, want it bounded", took)
			}
			for i, r := range res {
				if r.Error == nil || r.Error.Code != tc.want || r.Status != tc.want.HTTPStatus() {
					t.Fatalf("item %d: %+v, want %s", i, r, tc.want)
				}
			}
		})
	}
}

// TestForwardAfterAnAbandonedRelay: a write whose relay to the zone's
// leader was abandoned (the leader changed while it waited) may have been
// applied there, so every later relay is told it is in doubt; and when the
// leader changes a third time the request is answered unknown, never left
// without an answer.
func TestForwardAfterAnAbandonedRelay(t *testing.T) {
	meta := fsm.NewMeta(nil)
	m := New(fakeHost{meta: meta}, Config{NodeID: "a1", Zone: "A", Clustered: true, LeaderWait: 10 * time.Millisecond,
		Peer: peer.NewClient(nil), Stop: make(chan struct{}), Count: func(string) {}})
	var idx uint64
	metaApply(t, meta, &idx, fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
	moves := 0
	move := func() { // the zone's leader is now at another address
		moves++
		metaApply(t, meta, &idx, fsm.MetaCmd{Type: fsm.MetaSetNodeAddr, Node: &fsm.NodeInfo{ID: "b1", Zone: "B", RaftAddr: "127.0.0.1:9", HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 1000+moves)}})
	}
	move()
	for _, abandon := range []int{1, 3} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/accounts/1/payments", nil)
		var doubts []bool
		m.Forward(w, r, "B", func(addr string, hops int, moved <-chan struct{}, inDoubt bool) bool {
			if want := fmt.Sprintf("127.0.0.1:%d", 1000+moves); addr != want {
				t.Errorf("relay %d went to %s, want the zone's leader now, %s", len(doubts)+1, addr, want)
			}
			doubts = append(doubts, inDoubt)
			if len(doubts) > abandon {
				w.WriteHeader(http.StatusCreated)
				return true
			}
			move() // the leader changed while the relay waited
			return false
		})
		want := []bool{false, true, true}[:min(abandon+1, 3)]
		if fmt.Sprint(doubts) != fmt.Sprint(want) {
			t.Fatalf("%d relays abandoned: in doubt %v, want %v", abandon, doubts, want)
		}
		if abandon < 3 && w.Code != http.StatusCreated {
			t.Fatalf("%d relays abandoned: %d, want the last relay's answer", abandon, w.Code)
		}
		if abandon == 3 && (w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), string(api.CodeUnknownOutcome))) {
			t.Fatalf("three relays abandoned: %d %q, want unknown_outcome", w.Code, w.Body.String())
		}
	}
}
