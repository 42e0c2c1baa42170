package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/console"
	"github.com/rzonedb/rzone/internal/peer"
)

// Response and request headers of the API (internal/api/headers.go).
const (
	HeaderNode         = api.HeaderNode
	HeaderLeader       = api.HeaderLeader
	HeaderIsolated     = api.HeaderIsolated
	HeaderStale        = api.HeaderStale
	HeaderAppliedIndex = api.HeaderAppliedIndex
	HeaderCommitIndex  = api.HeaderCommitIndex
	HeaderLastContact  = api.HeaderLastContact
	HeaderInsecure     = api.HeaderInsecure
	// HeaderForwarded counts the hops of a forwarded request; a node that
	// gets one at cluster.MaxHops and cannot serve it answers unavailable instead of
	// forwarding again.
	HeaderForwarded = peer.HeaderHops
)

func (n *Node) startHTTP() error {
	mux := http.NewServeMux()
	n.routes(mux)
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	if n.certs != nil {
		ln = tls.NewListener(ln, n.certs.APIConfig())
	}
	n.httpLn = ln
	n.http = &http.Server{
		Handler:           n.instrument(mux),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// TLS handshake failures and the like, at debug: a port scan
		// must not flood the log.
		ErrorLog: slog.NewLogLogger(n.log.With("part", "http").Handler(), slog.LevelDebug),
	}
	go func() {
		if err := n.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// routes registers the API on sm, every route behind the access check
// routeAccess names (auth.go); it returns the guarded mux for tests.
func (n *Node) routes(sm *http.ServeMux) *guardedMux {
	mux := &guardedMux{guard: n.authGuard(), mux: sm}
	mux.HandleFunc("PUT /v1/accounts/{user}", n.handlePutAccount)
	mux.HandleFunc("GET /v1/accounts/{user}", n.handleGetAccount)
	mux.HandleFunc("POST /v1/accounts/{user}/payments", n.handlePay)
	mux.HandleFunc("POST /v1/payments/batch", n.handlePayBatch)
	mux.HandleFunc("POST /v1/accounts/batch", n.handleAccountBatch)
	mux.HandleFunc("GET /v1/accounts/{user}/payments", n.handleListPayments)
	mux.HandleFunc("GET /v1/accounts/{user}/payments/{key}", n.handleGetPayment)
	mux.HandleFunc("POST /v1/accounts/{user}/repayments", n.handleRepay)
	mux.HandleFunc("GET /v1/accounts/{user}/repayments/{key}", n.handleGetRepayment)
	mux.HandleFunc("GET /v1/accounts/{user}/bills", n.handleListBills)
	mux.HandleFunc("GET /v1/accounts/{user}/bills/{cycle}", n.handleGetBill)
	mux.HandleFunc("GET /v1/accounts/{user}/notifications", n.handleNotifications)
	mux.HandleFunc("POST /v1/cluster/join", n.handleJoin)
	mux.HandleFunc("GET /v1/status", n.handleStatus)
	mux.HandleFunc("POST /v1/cluster/init", n.handleClusterInit)
	mux.HandleFunc("GET /v1/routes", n.handleRoutes)
	mux.HandleFunc("GET /v1/zones", n.handleZones)
	mux.HandleFunc("GET /v1/zones/{zone}", n.handleZone)
	mux.HandleFunc("POST /v1/zones/{zone}/failover", n.handleFailover)
	mux.HandleFunc("POST /v1/zones/{zone}/recover", n.handleRecover)
	mux.HandleFunc("POST /v1/internal/marks", n.handleInternalMarks)
	mux.HandleFunc("GET /v1/internal/guard", n.handleInternalGuard)
	mux.HandleFunc("POST /v1/internal/shards/{shard}/merge", n.handleMergeShard)
	mux.HandleFunc("GET /v1/members", n.handleMembers)
	mux.HandleFunc("POST /v1/internal/meta", n.handleInternalMeta)
	mux.HandleFunc("POST /v1/internal/bootstrap", n.handleInternalBootstrap)
	mux.HandleFunc("GET /v1/internal/replicas", n.handleInternalReplicas)
	mux.HandleFunc("POST /v1/shards/{shard}/move", n.handleMoveShard)
	mux.HandleFunc("POST /v1/nodes/{id}/remove", n.handleNodeRemove)
	mux.HandleFunc("POST /v1/nodes/{id}/drain", n.handleNodeDrain)
	mux.HandleFunc("POST /v1/nodes/{id}/undrain", n.handleNodeUndrain)
	mux.HandleFunc("GET /v1/ops", n.handleListOps)
	mux.HandleFunc("GET /v1/ops/{id}", n.handleGetOp)
	mux.HandleFunc("GET /v1/config", n.handleListConfig)
	mux.HandleFunc("GET /v1/config/{key...}", n.handleGetConfig)
	mux.HandleFunc("PUT /v1/config/{key...}", n.handleSetConfig)
	mux.HandleFunc("GET /v1/internal/shards/{shard}/export", n.handleExportShard)
	mux.HandleFunc("POST /v1/internal/shards/{shard}/import", n.handleImportShard)
	mux.HandleFunc("POST /v1/internal/shards/{shard}/drop", n.handleDropShard)
	mux.HandleFunc("POST /v1/jobs/{job}/runs", n.handleCreateRun)
	mux.HandleFunc("GET /v1/runs", n.handleListRuns)
	mux.HandleFunc("GET /v1/runs/{id}", n.handleGetRun)
	mux.HandleFunc("POST /v1/runs/{id}/cancel", n.handleCancelRun)
	mux.HandleFunc("POST /v1/internal/sched/lease", n.handleInternalLease)
	mux.HandleFunc("POST /v1/internal/sched/report", n.handleInternalReport)
	mux.HandleFunc("GET /v1/internal/sched/due", n.handleInternalDue)
	mux.HandleFunc("POST /v1/internal/sched/effects", n.handleInternalEffects)
	mux.HandleFunc("POST /v1/tokens", n.handleCreateToken)
	mux.HandleFunc("GET /v1/tokens", n.handleListTokens)
	mux.HandleFunc("DELETE /v1/tokens/{id}", n.handleRevokeToken)
	mux.HandleFunc("GET /v1/snapshot/{group...}", n.handleSnapshot)
	mux.HandleFunc("GET /healthz", n.handleHealthz)
	mux.HandleFunc("GET /readyz", n.handleReadyz)
	mux.HandleFunc("GET /v1/openapi.json", handleOpenAPI)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.Reg, promhttp.HandlerOpts{}))
	console.Register(mux, n.peer) // the web console at /ui/ and its /v1/ui/series
	if n.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := api.AllowedMethods(sm, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			api.WriteError(w, api.Errorf(api.CodeMethodNotAllowed, "%s %s: the path takes %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		api.WriteError(w, api.Errorf(api.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// handleOpenAPI serves the API's OpenAPI document (internal/api/openapi.json).
func handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(api.OpenAPI)
}

// instrument sets the node's reply headers and counts and times every
// request by route and status.
func (n *Node) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &api.StatusWriter{ResponseWriter: w, Code: http.StatusOK}
		sw.Header().Set(HeaderNode, n.cfg.NodeID)
		if n.certs == nil {
			sw.Header().Set(HeaderInsecure, "true")
		}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		n.metrics.Requests.WithLabelValues(route, strconv.Itoa(sw.Code)).Inc()
		n.metrics.Latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
