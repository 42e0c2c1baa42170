package runner

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
	"github.com/rzonedb/rzone/tests/jepsen/workload"
)

// replyProxies stand between the run's clients and each node's API, so that
// the lost-reply fault can let a write reach a node, be applied there, and
// lose its reply on the way back: the client's connection is closed once
// the node has answered, and the client sees an unknown outcome for a write
// that took effect. Only the workloads' clients go through them; the nodes
// talk to each other directly, and the runner's admin client too.
type replyProxies struct {
	byNode map[string]*replyProxy
	order  []string

	mu      sync.Mutex
	nodes   map[string]bool // every write reply through these nodes' proxies is lost
	zones   map[string]bool // every write reply for these zones' users of even id is lost, whichever node
	zoneOf  func(user uint64) string
	dropped atomic.Int64
}

// replyProxy is one node's proxy.
type replyProxy struct {
	id     string
	target string // the node's URL prefix, scheme://host:port
	ln     net.Listener
	srv    *http.Server
	tr     *http.Transport
	set    *replyProxies
}

// startReplyProxies starts a proxy on a loopback port in front of each
// node and returns them with the nodes as the clients should see them. In
// a secure cluster (sec not nil) a proxy speaks TLS on both sides, with the
// harness's certificate to the clients, and passes their token on.
func startReplyProxies(nodes []workload.Node, timeout time.Duration, sec *cluster.Security) (*replyProxies, []workload.Node, error) {
	set := &replyProxies{byNode: map[string]*replyProxy{}, nodes: map[string]bool{}, zones: map[string]bool{}}
	var out []workload.Node
	for _, n := range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			set.Close()
			return nil, nil, fmt.Errorf("runner: reply proxy for %s: %w", n.ID, err)
		}
		p := &replyProxy{id: n.ID, target: sec.Scheme() + "://" + n.API.Addr, ln: ln, set: set,
			tr: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second, DisableCompression: true}}
		if sec != nil {
			p.tr.TLSClientConfig = sec.TLS.Clone()
			ln = tls.NewListener(ln, sec.ServerTLS())
		}
		p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
		go p.srv.Serve(ln)
		set.byNode[n.ID] = p
		set.order = append(set.order, n.ID)
		out = append(out, workload.Node{ID: n.ID, Zone: n.Zone, API: httpapi.New(ln.Addr().String(), timeout, sec.APIOptions()...)})
	}
	return set, out, nil
}

// DropNodeReplies loses (on) or passes (off) every write reply that goes
// through node id's proxy.
func (s *replyProxies) DropNodeReplies(id string, on bool) error {
	if s.byNode[id] == nil {
		return fmt.Errorf("no reply proxy for node %q", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[id] = on
	return nil
}

// DropZoneReplies loses (on) or passes (off) every write reply for a user
// of zone z whose id is even, through any node: the other half of the
// zone's users get their answers.
func (s *replyProxies) DropZoneReplies(z string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.zoneOf == nil {
		return errors.New("reply proxies do not know the users' zones")
	}
	s.zones[z] = on
	return nil
}

// HealReplies passes every reply again.
func (s *replyProxies) HealReplies() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.nodes)
	clear(s.zones)
}

// Dropped is how many replies the proxies have lost.
func (s *replyProxies) Dropped() int64 { return s.dropped.Load() }

// Close stops every proxy.
func (s *replyProxies) Close() {
	for _, p := range s.byNode {
		p.srv.Close()
		p.tr.CloseIdleConnections()
	}
}

// drops reports whether the reply to r, sent through node id, is to be
// lost.
func (s *replyProxies) drops(id string, r *http.Request) bool {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodes[id] {
		return true
	}
	if len(s.zones) == 0 || s.zoneOf == nil {
		return false
	}
	u, ok := userOfPath(r.URL.Path)
	return ok && u%2 == 0 && s.zones[s.zoneOf(u)]
}

// userOfPath returns the user of an /v1/accounts/{user}/… path.
func userOfPath(path string) (uint64, bool) {
	rest, ok := strings.CutPrefix(path, "/v1/accounts/")
	if !ok {
		return 0, false
	}
	id, _, _ := strings.Cut(rest, "/")
	u, err := strconv.ParseUint(id, 10, 64)
	return u, err == nil
}

// ServeHTTP sends r on to the node and copies the reply back, or, when its
// reply is to be lost, reads the node's whole reply and then closes the
// client's connection without a word. A node that cannot be dialled answers
// 503 unavailable, as the client would have seen from a refused connection:
// nothing was sent.
func (p *replyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	out.Header = r.Header.Clone()
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Errorf(api.CodeUnavailable, "node %s unreachable: %v", p.id, err)})
			return
		}
		panic(http.ErrAbortHandler) // sent, no reply: the client sees a transport error
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if p.set.drops(p.id, r) {
		p.set.dropped.Add(1)
		panic(http.ErrAbortHandler) // applied, and the reply is lost
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(reply)
}
