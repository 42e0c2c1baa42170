package server

import (
	"net/http"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/auth"
)

// routeAccess lists every route of the API with what it requires. A route
// missing here requires a node certificate (it fails closed), and
// TestEveryRouteHasARole fails.
var routeAccess = map[string]auth.Access{
	"GET /healthz": auth.AccessOpen,
	"GET /readyz":  auth.AccessOpen,
	"GET /metrics": auth.AccessMetrics,
	// The API's description holds no data of the cluster, and tools
	// fetch it before they have a token.
	"GET /v1/openapi.json": auth.AccessOpen,

	// The console's pages are static and open; what they show comes from
	// API calls carrying the token typed into the page.
	"GET /ui":           auth.AccessOpen,
	"GET /ui/":          auth.AccessOpen,
	"GET /v1/ui/series": auth.AccessReader,

	"PUT /v1/accounts/{user}":                  auth.AccessApp,
	"GET /v1/accounts/{user}":                  auth.AccessUser,
	"POST /v1/accounts/{user}/payments":        auth.AccessApp,
	"POST /v1/payments/batch":                  auth.AccessApp,
	"POST /v1/accounts/batch":                  auth.AccessApp,
	"GET /v1/accounts/{user}/payments":         auth.AccessUser,
	"GET /v1/accounts/{user}/payments/{key}":   auth.AccessUser,
	"POST /v1/accounts/{user}/repayments":      auth.AccessApp,
	"GET /v1/accounts/{user}/repayments/{key}": auth.AccessUser,
	"GET /v1/accounts/{user}/bills":            auth.AccessUser,
	"GET /v1/accounts/{user}/bills/{cycle}":    auth.AccessUser,
	"GET /v1/accounts/{user}/notifications":    auth.AccessUser,
	"GET /v1/status":                           auth.AccessUser,
	"GET /v1/routes":                           auth.AccessUser,
	"GET /v1/zones":                            auth.AccessReader,
	"GET /v1/zones/{zone}":                     auth.AccessReader,
	"GET /v1/members":                          auth.AccessReader,
	"GET /v1/config":                           auth.AccessReader,
	"GET /v1/config/{key...}":                  auth.AccessReader,
	"GET /v1/runs":                             auth.AccessReader,
	"GET /v1/runs/{id}":                        auth.AccessReader,
	"GET /v1/ops":                              auth.AccessReader,
	"GET /v1/ops/{id}":                         auth.AccessReader,
	"POST /v1/cluster/init":                    auth.AccessInit,
	"POST /v1/cluster/join":                    auth.AccessAdmin,
	"POST /v1/zones/{zone}/failover":           auth.AccessAdmin,
	"POST /v1/zones/{zone}/recover":            auth.AccessAdmin,
	"POST /v1/shards/{shard}/move":             auth.AccessAdmin,
	"POST /v1/nodes/{id}/remove":               auth.AccessAdmin,
	"POST /v1/nodes/{id}/drain":                auth.AccessAdmin,
	"POST /v1/nodes/{id}/undrain":              auth.AccessAdmin,
	"PUT /v1/config/{key...}":                  auth.AccessAdmin,
	"POST /v1/jobs/{job}/runs":                 auth.AccessAdmin,
	"POST /v1/runs/{id}/cancel":                auth.AccessAdmin,
	"POST /v1/tokens":                          auth.AccessAdmin,
	"GET /v1/tokens":                           auth.AccessAdmin,
	"DELETE /v1/tokens/{id}":                   auth.AccessAdmin,
	"GET /debug/pprof/":                        auth.AccessAdmin,
	"GET /debug/pprof/profile":                 auth.AccessAdmin,
	"GET /debug/pprof/trace":                   auth.AccessAdmin,
	"/":                                        auth.AccessAny,
	"POST /v1/internal/marks":                  auth.AccessNode,
	"GET /v1/internal/guard":                   auth.AccessNode,
	"POST /v1/internal/shards/{shard}/merge":   auth.AccessNode,
	"POST /v1/internal/meta":                   auth.AccessNode,
	"POST /v1/internal/bootstrap":              auth.AccessNode,
	"GET /v1/internal/replicas":                auth.AccessNode,
	"GET /v1/internal/shards/{shard}/export":   auth.AccessNode,
	"POST /v1/internal/shards/{shard}/import":  auth.AccessNode,
	"POST /v1/internal/shards/{shard}/drop":    auth.AccessNode,
	"POST /v1/internal/sched/lease":            auth.AccessNode,
	"POST /v1/internal/sched/report":           auth.AccessNode,
	"GET /v1/internal/sched/due":               auth.AccessNode,
	"POST /v1/internal/sched/effects":          auth.AccessNode,

	// A backup holds every account and the tokens' hashes.
	"GET /v1/snapshot/{group...}": auth.AccessAdmin,
}

// guardedMux registers routes on a ServeMux behind the access check of
// routeAccess.
type guardedMux struct {
	guard *auth.Guard
	mux   *http.ServeMux
	// patterns lists what was registered, for the route table test.
	patterns []string
}

// Handle registers h for pattern behind its access check: 401 or 403
// unless the request may use it.
func (g *guardedMux) Handle(pattern string, h http.Handler) {
	need, ok := routeAccess[pattern]
	if !ok {
		need = auth.AccessNode
	}
	g.patterns = append(g.patterns, pattern)
	g.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := g.guard.Check(r, need); e != nil {
			api.WriteError(w, e)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// HandleFunc registers h for pattern behind its access check.
func (g *guardedMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	g.Handle(pattern, http.HandlerFunc(h))
}

// authGuard is the node's access check (auth.Guard): open on an
// --insecure node, else by node certificate or token.
func (n *Node) authGuard() *auth.Guard {
	return &auth.Guard{Open: n.certs == nil, Role: n.tokenRole, Fails: &n.authFails, Log: n.log,
		Initialized: func() bool { return n.clustered && n.metaFSM.State().Initialized },
		Failed:      func(reason string) { n.metrics.AuthFailures.WithLabelValues(reason).Inc() }}
}

// tokenRole is the role of the bearer token in an Authorization header
// (auth.Role over the bootstrap token and the meta group's tokens).
func (n *Node) tokenRole(header string) (string, bool) {
	var lookup func(string) (fsm.Token, bool)
	if n.metaFSM != nil {
		lookup = n.metaFSM.Token
	}
	return auth.Role(header, n.bootstrapToken, lookup, time.Now())
}
