package server

import (
	"errors"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Errors of the node, kept apart from business outcomes all the way to the
// API's codes.
var (
	// ErrNotLeader means this node cannot serve the request itself; the
	// HTTP layer forwards it.
	ErrNotLeader = errors.New("server: not the leader")
	// ErrNoLeader means no leader was known within the leader wait.
	ErrNoLeader = errors.New("server: no leader")
	// ErrNotApplied means the write was refused before it reached the log.
	ErrNotApplied = errors.New("server: write not applied")
	// ErrUnknownOutcome means the write reached the log and may or may not
	// commit.
	ErrUnknownOutcome = errors.New("server: write outcome unknown")
	// ErrShutdown means the node is stopping.
	ErrShutdown = errors.New("server: shutting down")
)

// classifyApply maps a raft.Apply error to whether the write may have
// committed. ErrNotLeader and ErrEnqueueTimeout are returned before the
// entry is appended; every other failure after the entry was handed to raft
// leaves the outcome unknown.
func classifyApply(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return errors.Join(ErrNotLeader, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return errors.Join(ErrNotApplied, err)
	default: // ErrLeadershipLost, ErrRaftShutdown, ErrAbortedByRestore, timeouts
		return errors.Join(ErrUnknownOutcome, err)
	}
}

// apiError turns a node error into the API's error.
func apiError(err error) *api.Error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, ErrUnknownOutcome):
		return api.Errorf(api.CodeUnknownOutcome, "the write may or may not have been applied; retry with the same key (%v)", err)
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotApplied), errors.Is(err, ErrShutdown):
		return api.Errorf(api.CodeUnavailable, "%v; retry", err)
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
	}
	return api.Errorf(api.CodeInternal, "unknown result code %d", r.Code)
}
