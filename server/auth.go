package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/certs"
)

// access is what a route requires of a request.
type access int

const (
	accessOpen    access = iota // anyone (/healthz, /readyz)
	accessMetrics               // a metrics, reader or admin token (/metrics)
	accessAny                   // any valid token (the catch-all: 404 and 405)
	// accessUser is the reads an app needs: its users' data, and the
	// routing table and status its client library finds leaders with. App,
	// reader and admin tokens.
	accessUser
	accessReader // every other GET: reader and admin tokens
	accessApp    // the writes of user data: app and admin tokens
	accessAdmin  // an admin token
	// accessInit is admin once the cluster is initialized and open
	// before: the init answers with the cluster's first admin token.
	accessInit
	// accessNode is a node certificate, whatever token comes with it
	// (/v1/internal/*).
	accessNode
)

// accessRoles lists the token roles each access allows. The roles are
// not ranked: an app token writes its users' data and reads it back, but
// reads nothing of the cluster beyond the routes; a reader token reads
// every GET and writes nothing; a metrics token reads /metrics only.
var accessRoles = map[access][]string{
	accessMetrics: {fsm.RoleMetrics, fsm.RoleReader, fsm.RoleAdmin},
	accessAny:     {fsm.RoleMetrics, fsm.RoleReader, fsm.RoleApp, fsm.RoleAdmin},
	accessUser:    {fsm.RoleReader, fsm.RoleApp, fsm.RoleAdmin},
	accessReader:  {fsm.RoleReader, fsm.RoleAdmin},
	accessApp:     {fsm.RoleApp, fsm.RoleAdmin},
	accessAdmin:   {fsm.RoleAdmin},
}

// allows reports whether a token of role may use a route that requires
// need.
func allows(role string, need access) bool {
	return slices.Contains(accessRoles[need], role)
}

// routeAccess lists every route of the API with what it requires. A route
// missing here requires a node certificate (it fails closed), and
// TestEveryRouteHasARole fails.
var routeAccess = map[string]access{
	"GET /healthz": accessOpen,
	"GET /readyz":  accessOpen,
	"GET /metrics": accessMetrics,
	// The API's description holds no data of the cluster, and tools
	// fetch it before they have a token.
	"GET /v1/openapi.json": accessOpen,

	// The console's pages are static and open; what they show comes from
	// API calls carrying the token typed into the page.
	"GET /ui":           accessOpen,
	"GET /ui/":          accessOpen,
	"GET /v1/ui/series": accessReader,

	"PUT /v1/accounts/{user}":                  accessApp,
	"GET /v1/accounts/{user}":                  accessUser,
	"POST /v1/accounts/{user}/payments":        accessApp,
	"POST /v1/payments/batch":                  accessApp,
	"POST /v1/accounts/batch":                  accessApp,
	"GET /v1/accounts/{user}/payments":         accessUser,
	"GET /v1/accounts/{user}/payments/{key}":   accessUser,
	"POST /v1/accounts/{user}/repayments":      accessApp,
	"GET /v1/accounts/{user}/repayments/{key}": accessUser,
	"GET /v1/accounts/{user}/bills":            accessUser,
	"GET /v1/accounts/{user}/bills/{cycle}":    accessUser,
	"GET /v1/accounts/{user}/notifications":    accessUser,
	"GET /v1/status":                           accessUser,
	"GET /v1/routes":                           accessUser,
	"GET /v1/zones":                            accessReader,
	"GET /v1/zones/{zone}":                     accessReader,
	"GET /v1/members":                          accessReader,
	"GET /v1/config":                           accessReader,
	"GET /v1/config/{key...}":                  accessReader,
	"GET /v1/runs":                             accessReader,
	"GET /v1/runs/{id}":                        accessReader,
	"GET /v1/ops":                              accessReader,
	"GET /v1/ops/{id}":                         accessReader,
	"POST /v1/cluster/init":                    accessInit,
	"POST /v1/cluster/join":                    accessAdmin,
	"POST /v1/zones/{zone}/failover":           accessAdmin,
	"POST /v1/zones/{zone}/recover":            accessAdmin,
	"POST /v1/shards/{shard}/move":             accessAdmin,
	"POST /v1/nodes/{id}/remove":               accessAdmin,
	"POST /v1/nodes/{id}/drain":                accessAdmin,
	"POST /v1/nodes/{id}/undrain":              accessAdmin,
	"PUT /v1/config/{key...}":                  accessAdmin,
	"POST /v1/jobs/{job}/runs":                 accessAdmin,
	"POST /v1/runs/{id}/cancel":                accessAdmin,
	"POST /v1/tokens":                          accessAdmin,
	"GET /v1/tokens":                           accessAdmin,
	"DELETE /v1/tokens/{id}":                   accessAdmin,
	"GET /debug/pprof/":                        accessAdmin,
	"GET /debug/pprof/profile":                 accessAdmin,
	"GET /debug/pprof/trace":                   accessAdmin,
	"/":                                        accessAny,
	"POST /v1/internal/marks":                  accessNode,
	"GET /v1/internal/guard":                   accessNode,
	"POST /v1/internal/shards/{shard}/merge":   accessNode,
	"POST /v1/internal/meta":                   accessNode,
	"POST /v1/internal/bootstrap":              accessNode,
	"GET /v1/internal/replicas":                accessNode,
	"GET /v1/internal/shards/{shard}/export":   accessNode,
	"POST /v1/internal/shards/{shard}/import":  accessNode,
	"POST /v1/internal/shards/{shard}/drop":    accessNode,
	"POST /v1/internal/sched/lease":            accessNode,
	"POST /v1/internal/sched/report":           accessNode,
	"GET /v1/internal/sched/due":               accessNode,
	"POST /v1/internal/sched/effects":          accessNode,

	// A backup holds every account and the tokens' hashes.
	"GET /v1/snapshot/{group...}": accessAdmin,
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
		need = accessNode
	}
	g.patterns = append(g.patterns, pattern)
	g.mux.Handle(pattern, g.n.guard(need, h))
}

// HandleFunc registers h for pattern behind its access check.
func (g *guardedMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	g.Handle(pattern, http.HandlerFunc(h))
}

// guard answers 401 or 403 unless r may use a route that requires need.
func (n *Node) guard(need access, h http.Handler) http.Handler {
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
func (n *Node) authorize(r *http.Request, need access) *api.Error {
	if n.certs == nil || need == accessOpen {
		return nil
	}
	if certs.HasNodeCert(r.TLS) {
		return nil
	}
	if need == accessNode {
		return errPermissionDenied
	}
	if need == accessInit {
		if !n.clustered || !n.metaFSM.State().Initialized {
			return nil
		}
		need = accessAdmin
	}
	src := remoteHost(r)
	if n.authFails.limited(src) {
		return errUnauthenticated
	}
	role, ok := n.tokenRole(r.Header.Get("Authorization"))
	if !ok {
		n.metrics.authFailures.WithLabelValues("unauthenticated").Inc()
		if n.authFails.note(src) {
			n.log.Warn("request without a valid token", "source", src, "route", r.Pattern)
		}
		return errUnauthenticated
	}
	if !allows(role, need) {
		n.metrics.authFailures.WithLabelValues("permission_denied").Inc()
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
	id, secret, ok := parseToken(raw)
	if !ok {
		return "", false
	}
	sum := sha256Sum(secret)
	if n.bootstrapToken != nil && subtle.ConstantTimeCompare(sum, n.bootstrapToken) == 1 {
		return fsm.RoleAdmin, true
	}
	if n.metaFSM == nil {
		return "", false
	}
	t, found := n.metaFSM.Token(id)
	if !found || subtle.ConstantTimeCompare(sum, t.Hash) != 1 {
		return "", false
	}
	if t.Expires != 0 && time.Now().UnixMilli() >= t.Expires {
		return "", false
	}
	return t.Role, true
}

// A token reads "rzt_" + id + "_" + secret: id is 16 hex digits (it finds
// the token's hash), secret the base64url of 32 random bytes.
const (
	tokenPrefix  = "rzt_"
	tokenIDLen   = 16
	secretBytes  = 32
	secretB64Len = 43 // base64.RawURLEncoding of secretBytes
)

// newToken makes a token: its id, its secret's hash and the whole token,
// which is shown once and kept nowhere.
func newToken() (id string, hash []byte, token string) {
	var idb [tokenIDLen / 2]byte
	secret := make([]byte, secretBytes)
	if _, err := rand.Read(idb[:]); err != nil {
		panic("server: crypto/rand failed: " + err.Error())
	}
	if _, err := rand.Read(secret); err != nil {
		panic("server: crypto/rand failed: " + err.Error())
	}
	id = hex.EncodeToString(idb[:])
	return id, sha256Sum(secret), tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
}

// NewToken makes a token for a bootstrap token file (Config.
// BootstrapTokenFile): the caller keeps it secret.
func NewToken() string {
	_, _, token := newToken()
	return token
}

// parseToken splits a token into its id and secret; ok false if it is not
// in the form newToken makes.
func parseToken(s string) (id string, secret []byte, ok bool) {
	if len(s) != len(tokenPrefix)+tokenIDLen+1+secretB64Len || !strings.HasPrefix(s, tokenPrefix) {
		return "", nil, false
	}
	id = s[len(tokenPrefix) : len(tokenPrefix)+tokenIDLen]
	if s[len(tokenPrefix)+tokenIDLen] != '_' {
		return "", nil, false
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", nil, false
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(s[len(tokenPrefix)+tokenIDLen+1:])
	if err != nil || len(secret) != secretBytes {
		return "", nil, false
	}
	return id, secret, true
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// authLimiter counts failed authentications per source address: it logs
// at most once a second per source, and refuses a source with more than
// max (default maxAuthFailures) failures in the current second outright,
// valid token or not, for the rest of that second.
type authLimiter struct {
	mu  sync.Mutex
	max int
	// now is the clock, time.Now if nil (tests set it).
	now func() time.Time
	sec int64
	per map[string]int
}

// maxAuthFailures is how many failed authentications a source may have in
// a second before it is refused outright.
const maxAuthFailures = 20

// note counts a failure of src and reports whether to log it.
func (l *authLimiter) note(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	l.per[src]++
	return l.per[src] == 1
}

// limited reports whether src failed too often this second.
func (l *authLimiter) limited(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	limit := l.max
	if limit == 0 {
		limit = maxAuthFailures
	}
	return l.per[src] > limit
}

func (l *authLimiter) roll() {
	clock := l.now
	if clock == nil {
		clock = time.Now
	}
	if now := clock().Unix(); now != l.sec || l.per == nil {
		l.sec, l.per = now, map[string]int{}
	}
}

func sha256Sum(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}
