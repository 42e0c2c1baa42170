package auth

import (
	"log/slog"
	"net/http"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/certs"
)

// The refusals of Guard.Check.
var (
	ErrUnauthenticated  = api.Errorf(api.CodeUnauthenticated, "unauthenticated")
	ErrPermissionDenied = api.Errorf(api.CodePermissionDenied, "permission denied")
)

// Guard checks requests against the access their route requires.
type Guard struct {
	// Open lets every request through: a node that runs --insecure.
	Open bool
	// Initialized reports whether the node's cluster is initialized
	// (false on a standalone node): AccessInit is open until then.
	Initialized func() bool
	// Role is the role of an Authorization header's token (Role).
	Role func(header string) (string, bool)
	// Fails counts failed authentications per source.
	Fails *Limiter
	// Failed counts a refusal, by "unauthenticated" or
	// "permission_denied"; nil: not counted.
	Failed func(reason string)
	// Log warns of a source's failures (once a second each).
	Log *slog.Logger
}

// Check answers nil if r may use a route that requires need, else the
// error to reply with. An open Guard lets everything through; a node
// certificate allows every route; AccessNode (/v1/internal/*) allows
// nothing else; other routes need a token of a role that Allows need.
func (g *Guard) Check(r *http.Request, need Access) *api.Error {
	if g.Open || need == AccessOpen || certs.HasNodeCert(r.TLS) {
		return nil
	}
	if need == AccessNode {
		return ErrPermissionDenied
	}
	if need == AccessInit {
		if !g.Initialized() {
			return nil
		}
		need = AccessAdmin
	}
	src := Source(r)
	if g.Fails.Limited(src) {
		return ErrUnauthenticated
	}
	role, ok := g.Role(r.Header.Get("Authorization"))
	if !ok {
		g.failed("unauthenticated")
		if g.Fails.Note(src) {
			g.Log.Warn("request without a valid token", "source", src, "route", r.Pattern)
		}
		return ErrUnauthenticated
	}
	if !Allows(role, need) {
		g.failed("permission_denied")
		return ErrPermissionDenied
	}
	return nil
}

func (g *Guard) failed(reason string) {
	if g.Failed != nil {
		g.Failed(reason)
	}
}
