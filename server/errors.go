package server

import (
	"errors"
	"net/http"

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

// apiError turns a node error into the API's error.
func apiError(err error) *api.Error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, ErrUnknownOutcome):
		return api.Errorf(api.CodeUnknownOutcome, "the write may or may not have been applied; retry with the same key (%v)", err)
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotApplied), errors.Is(err, ErrShutdown),
		errors.Is(err, errNotInitialized):
		return api.Errorf(api.CodeUnavailable, "%v; retry", err)
	case errors.Is(err, fsm.ErrInvalidCommand):
		return api.Errorf(api.CodeInvalidArgument, "%v", err)
	case errors.Is(err, fsm.ErrNotFound):
		return api.Errorf(api.CodeNotFound, "%s", trimPrefix(err))
	case errors.Is(err, fsm.ErrClosed):
		return api.Errorf(api.CodeUnavailable, "node is stopping; retry")
	}
	return api.Errorf(api.CodeInternal, "%v", err)
}

func trimPrefix(err error) string {
	s := err.Error()
	const p = "fsm: not found: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):] + " not found"
	}
	return s
}

// resultError turns a command's business outcome into the API's error, or
// nil when it succeeded.
func resultError(r fsm.Result) *api.Error {
	switch r.Code {
	case fsm.OK:
		return nil
	case fsm.Conflict:
		return api.Errorf(api.CodeIdempotencyConflict, "%s", r.Msg)
	case fsm.InsufficientCredit:
		return api.Errorf(api.CodeInsufficientCredit, "%s", r.Msg)
	case fsm.Overpayment:
		return api.Errorf(api.CodeOverpayment, "%s", r.Msg)
	case fsm.NotFound:
		return api.Errorf(api.CodeNotFound, "%s", r.Msg)
	case fsm.Invalid:
		return api.Errorf(api.CodeInvalidArgument, "%s", r.Msg)
	case fsm.WrongZone:
		return api.Errorf(api.CodeWrongZone, "%s", r.Msg)
	case fsm.Isolated:
		return api.Errorf(api.CodeAccountIsolated, "%s", r.Msg)
	}
	return api.Errorf(api.CodeInternal, "unknown result code %d", r.Code)
}

// metaRefused answers a request whose meta command did not apply (err) or
// that the meta state machine refused (res.Err, answered with code), and
// reports whether it answered; on false the handler goes on with res.
func metaRefused(w http.ResponseWriter, res fsm.MetaResult, err error, code api.Code) bool {
	if err != nil {
		writeError(w, apiError(err))
		return true
	}
	if res.Err != "" {
		writeError(w, api.Errorf(code, "%s", res.Err))
		return true
	}
	return false
}
