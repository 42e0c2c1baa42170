package auth

import (
	"slices"

	"github.com/rzonedb/rzone/fsm"
)

// Access is what a route requires of a request.
type Access int

const (
	AccessOpen    Access = iota // anyone (/healthz, /readyz)
	AccessMetrics               // a metrics, reader or admin token (/metrics)
	AccessAny                   // any valid token (the catch-all: 404 and 405)
	// AccessUser is the reads an app needs: its users' data, and the
	// routing table and status its client library finds leaders with. App,
	// reader and admin tokens.
	AccessUser
	AccessReader // every other GET: reader and admin tokens
	AccessApp    // the writes of user data: app and admin tokens
	AccessAdmin  // an admin token
	// AccessInit is admin once the cluster is initialized and open
	// before: the init answers with the cluster's first admin token.
	AccessInit
	// AccessNode is a node certificate, whatever token comes with it
	// (/v1/internal/*).
	AccessNode
)

// accessRoles lists the token roles each access allows. The roles are
// not ranked: an app token writes its users' data and reads it back, but
// reads nothing of the cluster beyond the routes; a reader token reads
// every GET and writes nothing; a metrics token reads /metrics only.
var accessRoles = map[Access][]string{
	AccessMetrics: {fsm.RoleMetrics, fsm.RoleReader, fsm.RoleAdmin},
	AccessAny:     {fsm.RoleMetrics, fsm.RoleReader, fsm.RoleApp, fsm.RoleAdmin},
	AccessUser:    {fsm.RoleReader, fsm.RoleApp, fsm.RoleAdmin},
	AccessReader:  {fsm.RoleReader, fsm.RoleAdmin},
	AccessApp:     {fsm.RoleApp, fsm.RoleAdmin},
	AccessAdmin:   {fsm.RoleAdmin},
}

// Allows reports whether a token of role may use a route that requires
// need.
func Allows(role string, need Access) bool {
	return slices.Contains(accessRoles[need], role)
}
