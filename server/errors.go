package server

import (
	"errors"
	"net/http"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// Errors of the node: the zone package's, so that one errors.Is matches
// wherever the error was made.
var (
	ErrNotLeader      = zone.ErrNotLeader
	ErrNoLeader       = zone.ErrNoLeader
	ErrNotApplied     = zone.ErrNotApplied
	ErrUnknownOutcome = zone.ErrUnknownOutcome
	ErrShutdown       = zone.ErrShutdown
)

// ErrOpen is Validate's refusal of a config with neither a certs dir nor
// the explicit insecure mode: a node never runs open by accident.
var ErrOpen = errors.New("refusing to run open: give --certs-dir (see `rzone cert`), or --insecure to run without TLS and tokens")

// metaRefused answers a request whose meta command did not apply (err) or
// that the meta state machine refused (res.Err, answered with code), and
// reports whether it answered; on false the handler goes on with res.
func metaRefused(w http.ResponseWriter, res fsm.MetaResult, err error, code api.Code) bool {
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return true
	}
	if res.Err != "" {
		api.WriteError(w, api.Errorf(code, "%s", res.Err))
		return true
	}
	return false
}
