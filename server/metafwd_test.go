package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/rzonedb/rzone/internal/testnet"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// replyDropper relays every request to a node; while armed, it lets the
// node answer POST /v1/internal/meta (so the command is applied) and then
// closes the caller's connection without a reply, as a reply lost on the
// way back would.
type replyDropper struct {
	srv     *httptest.Server
	armed   atomic.Bool
	dropped atomic.Int32
}

func newReplyDropper(t *testing.T, target string) *replyDropper {
	t.Helper()
	d := &replyDropper{}
	pass := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.armed.Load() || r.URL.Path != "/v1/internal/meta" {
			pass.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		resp, err := http.Post("http://"+target+r.URL.Path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Errorf("relay to %s: %v", target, err)
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		d.dropped.Add(1)
		conn.Close()
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *replyDropper) addr() string { return strings.TrimPrefix(d.srv.URL, "http://") }

// TestForwardedMetaWriteWithLostReplyIsUnknown sends a config set to a node
// that does not lead the meta group; the leader applies it and its reply to
// the forwarding node is lost. The caller must hear unknown_outcome (the
// write is applied), never unavailable (which says it was not and invites
// a blind retry). A leader that cannot even be dialled is unavailable.
func TestForwardedMetaWriteWithLostReplyIsUnknown(t *testing.T) {
	mc := setupZones(t, []string{"A"}, 3)
	ctx := context.Background()
	var leader, follower *Node
	waitFor(t, 10*time.Second, "a meta leader", func() bool {
		leader, follower = nil, nil
		for _, nd := range mc.nodes {
			if nd.meta.IsLeader() {
				leader = nd
			} else if follower == nil {
				follower = nd
			}
		}
		return leader != nil && follower != nil
	})
	info, ok := leader.metaFSM.State().Node(leader.cfg.NodeID)
	if !ok {
		t.Fatal("meta leader not in the node list")
	}
	drop := newReplyDropper(t, info.HTTPAddr)
	info.HTTPAddr = drop.addr()
	if res, err := leader.cluster.Apply(ctx, fsm.MetaCmd{Type: fsm.MetaSetNodeAddr, Node: &info}); err != nil || res.Err != "" {
		t.Fatalf("point the leader's address at the relay: %v %s", err, res.Err)
	}
	waitFor(t, 5*time.Second, "the follower sees the relay's address", func() bool {
		return follower.cluster.HTTPAddrOf(leader.cfg.NodeID) == drop.addr()
	})
	drop.armed.Store(true)

	put := func(body string) (int, api.Code) {
		req, _ := http.NewRequest(http.MethodPut, "http://"+follower.cfg.HTTPAddr+"/v1/config/fwd.key", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb api.ErrorBody
		data, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
			return resp.StatusCode, ""
		}
		return resp.StatusCode, eb.Error.Code
	}
	if status, code := put(`{"value":"one"}`); code != api.CodeUnknownOutcome {
		t.Fatalf("config set whose reply was lost: %d %q, want unknown_outcome", status, code)
	}
	if drop.dropped.Load() != 1 {
		t.Fatalf("relay dropped %d replies, want 1", drop.dropped.Load())
	}
	if it, ok := leader.metaFSM.State().ConfigValue("fwd.key"); !ok || it.Value != "one" || it.Version != 1 {
		t.Fatalf("the leader holds %+v (found %v), want the write applied once", it, ok)
	}

	// The same call straight through postJSON, and one to an address that
	// refuses connections.
	err := follower.peer.PostJSON(ctx, drop.addr(), "/v1/internal/meta", fsm.MetaCmd{Type: fsm.MetaSetConfig, Key: "fwd.key", Value: "two", ExpectedVersion: 1}, nil)
	if !errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrNotApplied) || cluster.APIError(err).Code != api.CodeUnknownOutcome {
		t.Fatalf("postJSON with a lost reply: %v, want unknown outcome only", err)
	}
	refused := testnet.Addrs(t, 1)[0]
	err = follower.peer.PostJSON(ctx, refused, "/v1/internal/meta", fsm.MetaCmd{Type: fsm.MetaSetConfig, Key: "fwd.key", Value: "three"}, nil)
	if !errors.Is(err, ErrNotApplied) || cluster.APIError(err).Code != api.CodeUnavailable {
		t.Fatalf("postJSON to a refused address: %v, want not applied", err)
	}
}
