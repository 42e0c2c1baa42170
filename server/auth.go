package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/auth"
	"github.com/rzonedb/rzone/internal/certs"
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
	n   *Node
	mux *http.ServeMux
	// patterns lists what was registered, for the route table test.
	patterns []string
}

// Handle registers h for pattern behind its access check.
func (g *guardedMux) Handle(pattern string, h http.Handler) {
	need, ok := routeAccess[pattern]
	if !ok {
		need = auth.AccessNode
	}
	g.patterns = append(g.patterns, pattern)
	g.mux.Handle(pattern, g.n.guard(need, h))
}

// HandleFunc registers h for pattern behind its access check.
func (g *guardedMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	g.Handle(pattern, http.HandlerFunc(h))
}

// guard answers 401 or 403 unless r may use a route that requires need.
func (n *Node) guard(need auth.Access, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := n.authorize(r, need); e != nil {
			writeError(w, e)
			return
		}
		h.ServeHTTP(w, r)
	})
}

var (
	errUnauthenticated  = api.Errorf(api.CodeUnauthenticated, "unauthenticated")
	errPermissionDenied = api.Errorf(api.CodePermissionDenied, "permission denied")
)

// authorize checks r against need. An --insecure node lets everything
// through; a node certificate allows every route; /v1/internal/* allows
// nothing else; other routes need a token of a large enough role.
func (n *Node) authorize(r *http.Request, need auth.Access) *api.Error {
	if n.certs == nil || need == auth.AccessOpen {
		return nil
	}
	if certs.HasNodeCert(r.TLS) {
		return nil
	}
	if need == auth.AccessNode {
		return errPermissionDenied
	}
	if need == auth.AccessInit {
		if !n.clustered || !n.metaFSM.State().Initialized {
			return nil
		}
		need = auth.AccessAdmin
	}
	src := auth.Source(r)
	if n.authFails.Limited(src) {
		return errUnauthenticated
	}
	role, ok := n.tokenRole(r.Header.Get("Authorization"))
	if !ok {
		n.metrics.AuthFailures.WithLabelValues("unauthenticated").Inc()
		if n.authFails.Note(src) {
			n.log.Warn("request without a valid token", "source", src, "route", r.Pattern)
		}
		return errUnauthenticated
	}
	if !auth.Allows(role, need) {
		n.metrics.AuthFailures.WithLabelValues("permission_denied").Inc()
		return errPermissionDenied
	}
	return nil
}

// tokenRole is the role of the bearer token in an Authorization header,
// ok false for none, a malformed one, an unknown, revoked or expired one.
func (n *Node) tokenRole(header string) (string, bool) {
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return "", false
	}
	id, secret, ok := auth.Parse(raw)
	if !ok {
		return "", false
	}
	sum := auth.Hash(secret)
	if n.bootstrapToken != nil && auth.Equal(sum, n.bootstrapToken) {
		return fsm.RoleAdmin, true
	}
	if n.metaFSM == nil {
		return "", false
	}
	t, found := n.metaFSM.Token(id)
	if !found || !auth.Equal(sum, t.Hash) {
		return "", false
	}
	if t.Expires != 0 && time.Now().UnixMilli() >= t.Expires {
		return "", false
	}
	return t.Role, true
}

// newToken makes a token: its id, its secret's hash and the whole token
// (auth.New; cluster init calls it by this name).
func newToken() (id string, hash []byte, token string) {
	return auth.New()
}
