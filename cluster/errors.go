package cluster

import (
	"errors"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// APIError turns a node error (zone's, fsm's, ErrNotInitialized or an
// *api.Error already) into the API's error.
func APIError(err error) *api.Error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, zone.ErrUnknownOutcome):
		return api.Errorf(api.CodeUnknownOutcome, "the write may or may not have been applied; retry with the same key (%v)", err)
	case errors.Is(err, zone.ErrNotLeader), errors.Is(err, zone.ErrNoLeader), errors.Is(err, zone.ErrNotApplied), errors.Is(err, zone.ErrShutdown),
		errors.Is(err, ErrNotInitialized):
		return api.Errorf(api.CodeUnavailable, "%v; retry", err)
	case errors.Is(err, fsm.ErrInvalidCommand):
		return api.Errorf(api.CodeInvalidArgument, "%v", err)
	case errors.Is(err, fsm.ErrNotFound):
		return api.Errorf(api.CodeNotFound, "%s", trimNotFound(err))
	case errors.Is(err, fsm.ErrClosed):
		return api.Errorf(api.CodeUnavailable, "node is stopping; retry")
	}
	return api.Errorf(api.CodeInternal, "%v", err)
}

// trimNotFound words fsm's "fsm: not found: X" as "X not found".
func trimNotFound(err error) string {
	s := err.Error()
	const p = "fsm: not found: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):] + " not found"
	}
	return s
}

// resultCodes is the API code of each business outcome but OK.
var resultCodes = map[fsm.Code]api.Code{
	fsm.Conflict:           api.CodeIdempotencyConflict,
	fsm.InsufficientCredit: api.CodeInsufficientCredit,
	fsm.Overpayment:        api.CodeOverpayment,
	fsm.NotFound:           api.CodeNotFound,
	fsm.Invalid:            api.CodeInvalidArgument,
	fsm.WrongZone:          api.CodeWrongZone,
	fsm.Isolated:           api.CodeAccountIsolated,
}

// ResultError turns a command's business outcome into the API's error, or
// nil when it succeeded.
func ResultError(r fsm.Result) *api.Error {
	if r.Code == fsm.OK {
		return nil
	}
	if c, ok := resultCodes[r.Code]; ok {
		return api.Errorf(c, "%s", r.Msg)
	}
	return api.Errorf(api.CodeInternal, "unknown result code %d", r.Code)
}
