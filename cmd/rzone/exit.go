package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/rzonedb/rzone/client"
)

// Exit codes of the rzone command, documented in README.md ("CLI"). A
// script can tell a payment that was refused from one whose outcome is
// unknown, which it must retry with the same key.
const (
	exitOK          = 0
	exitError       = 1 // anything not below: an internal error, a bug
	exitUsage       = 2 // bad arguments or flags: nothing was sent
	exitRefused     = 3 // refused by the business rules: declined, key conflict, overpayment, not found, invalid, isolated, lease still valid, cluster exists
	exitUnknown     = 4 // a write's outcome is unknown: retry it with the same key
	exitUnavailable = 5 // not applied: no node could take it now (unavailable, lease expired, wrong zone); safe to retry
	exitUnauth      = 6 // not authenticated or not allowed
)

// usageError marks an error in what the user typed.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usage wraps err as a usage error (nil stays nil).
func usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// exitCode classifies err. ran says whether the command got as far as its
// own code (cobra's argument and flag errors come before it).
func exitCode(err error, ran bool) int {
	var ue usageError
	var ce *client.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), !ran:
		return exitUsage
	case errors.Is(err, client.ErrUnknownOutcome), errors.Is(err, client.ErrInternal):
		return exitUnknown
	case errors.Is(err, client.ErrInsufficientCredit), errors.Is(err, client.ErrIdempotencyConflict),
		errors.Is(err, client.ErrOverpayment), errors.Is(err, client.ErrNotFound),
		errors.Is(err, client.ErrInvalidArgument), errors.Is(err, client.ErrAccountIsolated),
		errors.Is(err, client.ErrVersionConflict), errors.Is(err, client.ErrFailoverRefused),
		errors.Is(err, client.ErrPayloadTooLarge), errors.Is(err, client.ErrLeaseValid),
		errors.Is(err, client.ErrClusterExists):
		return exitRefused
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrLeaseExpired), errors.Is(err, client.ErrWrongZone):
		return exitUnavailable
	case errors.As(err, &ce) && (ce.Status == 401 || ce.Status == 403):
		return exitUnauth
	case errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	}
	return exitError
}

// errorBody is an error as `-o json` prints it on stdout.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	ExitCode int `json:"exit_code"`
}

// reportError writes err for the user: a line on stderr, and with jsonOut
// also a JSON object on stdout. It returns the exit code.
func reportError(err error, ran, jsonOut bool, stdout, stderr io.Writer) int {
	code := exitCode(err, ran)
	fmt.Fprintln(stderr, "rzone:", err)
	if jsonOut {
		var b errorBody
		b.ExitCode = code
		b.Error.Message = err.Error()
		var ce *client.Error
		switch {
		case errors.As(err, &ce):
			b.Error.Code = string(ce.Code)
			b.Error.Message = ce.Message
		case code == exitUsage:
			b.Error.Code = "usage"
		default:
			b.Error.Code = "error"
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(b)
	}
	return code
}
