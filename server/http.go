package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
)

// Response and request headers of the API.
const (
	// HeaderNode names the node that served the request.
	HeaderNode = "X-Rzone-Node"
	// HeaderLeader is the API address of the leader, when known; clients
	// send their next requests there.
	HeaderLeader = "X-Rzone-Leader"
	// HeaderForwarded marks a request forwarded by a follower; a node that
	// gets one and is not the leader answers unavailable instead of
	// forwarding again.
	HeaderForwarded = "X-Rzone-Forwarded"
	// HeaderStale is "true" on a stale read's reply.
	HeaderStale = "X-Rzone-Stale"
	// HeaderAppliedIndex is the replica's applied log index behind a stale
	// read; HeaderCommitIndex the commit index it knew; HeaderLastContact
	// the milliseconds since it last heard from the leader (0 on the
	// leader, -1 if never). Together they say how far behind it may be.
	HeaderAppliedIndex = "X-Rzone-Applied-Index"
	HeaderCommitIndex  = "X-Rzone-Commit-Index"
	HeaderLastContact  = "X-Rzone-Last-Contact-Ms"
)

func (n *Node) startHTTP() error {
	mux := http.NewServeMux()
	n.routes(mux)
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	n.httpLn = ln
	n.http = &http.Server{
		Handler:           n.instrument(mux),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
	go func() {
		if err := n.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

func (n *Node) routes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /v1/accounts/{user}", n.handlePutAccount)
	mux.HandleFunc("GET /v1/accounts/{user}", n.handleGetAccount)
	mux.HandleFunc("POST /v1/accounts/{user}/payments", n.handlePay)
	mux.HandleFunc("GET /v1/accounts/{user}/payments", n.handleListPayments)
	mux.HandleFunc("GET /v1/accounts/{user}/payments/{key}", n.handleGetPayment)
	mux.HandleFunc("POST /v1/accounts/{user}/repayments", n.handleRepay)
	mux.HandleFunc("GET /v1/accounts/{user}/repayments/{key}", n.handleGetRepayment)
	mux.HandleFunc("GET /v1/accounts/{user}/bills", n.handleListBills)
	mux.HandleFunc("GET /v1/accounts/{user}/bills/{cycle}", n.handleGetBill)
	mux.HandleFunc("POST /v1/cluster/join", n.handleJoin)
	mux.HandleFunc("GET /v1/status", n.handleStatus)
	mux.HandleFunc("GET /healthz", n.handleHealthz)
	mux.HandleFunc("GET /readyz", n.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	if n.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, api.Errorf(api.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
}

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (n *Node) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		sw.Header().Set(HeaderNode, n.cfg.NodeID)
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		n.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		n.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *api.Error) {
	writeJSON(w, e.Code.HTTPStatus(), api.ErrorBody{Error: e})
}

// readBody reads and bounds the request body.
func readBody(r *http.Request) ([]byte, *api.Error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBodyBytes+1))
	if err != nil {
		return nil, api.Errorf(api.CodeInvalidArgument, "read body: %v", err)
	}
	if len(data) > api.MaxBodyBytes {
		return nil, api.Errorf(api.CodePayloadTooLarge, "body exceeds %d bytes", api.MaxBodyBytes)
	}
	return data, nil
}

func pathUser(r *http.Request) (uint64, *api.Error) {
	u, err := api.ParseUser(r.PathValue("user"))
	if err != nil {
		return 0, err.(*api.Error)
	}
	return u, nil
}

// serveWrite applies a validated write on the leader, or forwards it. done
// renders the successful result.
func (n *Node) serveWrite(w http.ResponseWriter, r *http.Request, body []byte, cmd fsm.Command, done func(res fsm.Result)) {
	if n.forwardIfFollower(w, r, body, true) {
		return
	}
	res, err := n.apply(cmd)
	if errors.Is(err, ErrNotLeader) && r.Header.Get(HeaderForwarded) == "" {
		n.forward(w, r, body, true)
		return
	}
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if e := resultError(res[0]); e != nil {
		writeError(w, e)
		return
	}
	done(res[0])
}

// serveRead runs a read: locally when ?stale=true, else after the
// linearizable read protocol on the leader (a follower forwards).
func (n *Node) serveRead(w http.ResponseWriter, r *http.Request, read func() (any, error)) {
	stale, err := staleParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if stale || inject.On(inject.StaleRead) {
		n.staleHeaders(w)
	} else {
		if n.forwardIfFollower(w, r, nil, false) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ReadTimeout)
		err := n.linearizable(ctx)
		cancel()
		if errors.Is(err, ErrNotLeader) && r.Header.Get(HeaderForwarded) == "" {
			n.forward(w, r, nil, false)
			return
		}
		if err != nil {
			writeError(w, apiError(err))
			return
		}
	}
	v, rerr := read()
	if rerr != nil {
		writeError(w, apiError(rerr))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func staleParam(r *http.Request) (bool, *api.Error) {
	s := r.URL.Query().Get("stale")
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, api.Errorf(api.CodeInvalidArgument, "stale must be true or false, got %q", s)
	}
	return b, nil
}

func (n *Node) staleHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set(HeaderStale, "true")
	h.Set(HeaderAppliedIndex, strconv.FormatUint(n.fsm.AppliedIndex(), 10))
	h.Set(HeaderCommitIndex, strconv.FormatUint(n.rep.Raft().CommitIndex(), 10))
	contact := int64(0)
	if n.rep.Raft().State() != raft.Leader {
		if lc := n.rep.Raft().LastContact(); lc.IsZero() {
			contact = -1
		} else {
			contact = time.Since(lc).Milliseconds()
		}
	}
	h.Set(HeaderLastContact, strconv.FormatInt(contact, 10))
}

// forwardIfFollower forwards the request when this node is not the leader
// and reports whether it did. A forwarded request that lands on a
// non-leader is answered unavailable rather than forwarded again.
func (n *Node) forwardIfFollower(w http.ResponseWriter, r *http.Request, body []byte, write bool) bool {
	if n.rep.Raft().State() == raft.Leader {
		return false
	}
	if r.Header.Get(HeaderForwarded) != "" {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s is no longer the leader; retry", n.cfg.NodeID))
		return true
	}
	n.forward(w, r, body, write)
	return true
}

// forward sends the request to the leader and copies its reply back. For a
// write, a failure after the request may have reached the leader is an
// unknown outcome; a failure to connect is not.
func (n *Node) forward(w http.ResponseWriter, r *http.Request, body []byte, write bool) {
	addr, err := n.leaderHTTP(r.Context())
	if err != nil {
		n.metrics.forwarded.WithLabelValues("no_leader").Inc()
		writeError(w, apiError(err))
		return
	}
	if addr == "" { // became leader meanwhile: let the client retry here
		writeError(w, api.Errorf(api.CodeUnavailable, "leadership changed; retry"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout+n.cfg.LeaderWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeError(w, api.Errorf(api.CodeInternal, "build forward: %v", err))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderForwarded, n.cfg.NodeID)
	resp, err := forwardClient.Do(req)
	if err != nil {
		var op *net.OpError
		if !write || (errors.As(err, &op) && op.Op == "dial") {
			n.forgetAddrs()
			n.metrics.forwarded.WithLabelValues("unavailable").Inc()
			writeError(w, api.Errorf(api.CodeUnavailable, "forward to leader %s: %v", addr, err))
			return
		}
		n.metrics.forwarded.WithLabelValues("unknown_outcome").Inc()
		writeError(w, api.Errorf(api.CodeUnknownOutcome, "forwarded write to leader %s may or may not have been applied (%v); retry with the same key", addr, err))
		return
	}
	defer resp.Body.Close()
	n.metrics.forwarded.WithLabelValues("ok").Inc()
	for _, h := range []string{"Content-Type", HeaderNode, HeaderStale, HeaderAppliedIndex, HeaderCommitIndex, HeaderLastContact} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set(HeaderLeader, addr)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// forwardClient carries forwarded requests between nodes.
var forwardClient = &http.Client{
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	},
}
