package client

import (
	"errors"
	"fmt"

	"github.com/rzonedb/rzone/internal/api"
)

// Code is an API error code; see README.md for the list.
type Code = api.Code

// Sentinel errors, one per API error code; an *Error matches its code's
// sentinel with errors.Is.
var (
	ErrInvalidArgument     = errors.New("rzone: invalid argument")
	ErrNotFound            = errors.New("rzone: not found")
	ErrIdempotencyConflict = errors.New("rzone: idempotency key reused with other parameters")
	ErrInsufficientCredit  = errors.New("rzone: insufficient credit")
	ErrOverpayment         = errors.New("rzone: repayment exceeds what is owed")
	ErrPayloadTooLarge     = errors.New("rzone: request too large")
	// ErrUnavailable means the request was not applied; retrying is safe.
	ErrUnavailable = errors.New("rzone: unavailable")
	// ErrUnknownOutcome means a write may or may not have been applied;
	// retrying it with the same idempotency key is safe and settles it.
	ErrUnknownOutcome = errors.New("rzone: outcome unknown")
	ErrInternal       = errors.New("rzone: internal error")
	// ErrLeaseExpired means the user's zone holds no ownership lease; not
	// applied; retrying is safe.
	ErrLeaseExpired = errors.New("rzone: zone lease expired")
	// ErrWrongZone means the request reached a zone that does not own the
	// user's shard; the client refreshes its routes and retries.
	ErrWrongZone = errors.New("rzone: wrong zone")
	// ErrVersionConflict means a config compare-and-set found another
	// version.
	ErrVersionConflict = errors.New("rzone: version conflict")
	// ErrAccountIsolated means the user's zone is failed over and the
	// account is on the failover blacklist: its latest state may be
	// missing, so state-type writes (repayments, limit changes) wait for
	// reconciliation. Payments are still taken.
	ErrAccountIsolated = errors.New("rzone: account isolated during failover")
	// ErrFailoverRefused means a failover or recovery step is not possible
	// in the zone's current phase.
	ErrFailoverRefused = errors.New("rzone: failover step refused")
	// ErrUnauthenticated means the request carried no token the cluster
	// knows (none, unknown, revoked or expired). Never retried.
	ErrUnauthenticated = errors.New("rzone: unauthenticated")
	// ErrPermissionDenied means the token's role does not allow the
	// request. Never retried.
	ErrPermissionDenied = errors.New("rzone: permission denied")
	// ErrLeaseValid means a failover was refused because the zone still
	// holds a valid lease; FailoverZone with Forced() fails it over anyway.
	ErrLeaseValid = errors.New("rzone: zone holds a valid lease")
	// ErrClusterExists means cluster init named zones other than those of
	// the already initialized cluster.
	ErrClusterExists = errors.New("rzone: cluster already initialized with other zones")
)

var sentinels = map[api.Code]error{
	api.CodeInvalidArgument:     ErrInvalidArgument,
	api.CodeNotFound:            ErrNotFound,
	api.CodeIdempotencyConflict: ErrIdempotencyConflict,
	api.CodeInsufficientCredit:  ErrInsufficientCredit,
	api.CodeOverpayment:         ErrOverpayment,
	api.CodePayloadTooLarge:     ErrPayloadTooLarge,
	api.CodeUnavailable:         ErrUnavailable,
	api.CodeUnknownOutcome:      ErrUnknownOutcome,
	api.CodeInternal:            ErrInternal,
	api.CodeLeaseExpired:        ErrLeaseExpired,
	api.CodeWrongZone:           ErrWrongZone,
	api.CodeVersionConflict:     ErrVersionConflict,
	api.CodeAccountIsolated:     ErrAccountIsolated,
	api.CodeFailover:            ErrFailoverRefused,
	api.CodeUnauthenticated:     ErrUnauthenticated,
	api.CodePermissionDenied:    ErrPermissionDenied,
	api.CodeLeaseValid:          ErrLeaseValid,
	api.CodeClusterExists:       ErrClusterExists,
}

// Error is an error reply from a node, or a transport failure classified as
// one (Status 0).
type Error struct {
	Code    Code
	Message string
	// Status is the HTTP status, 0 for a transport failure.
	Status int
	// Node is the address the request was sent to.
	Node string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (node %s)", e.Code, e.Message, e.Node)
}

// Is matches the sentinel of e's code.
func (e *Error) Is(target error) bool { return sentinels[e.Code] == target }

// IsRetryable reports whether err may be retried with the same idempotency
// key: the request was not applied, or its outcome is unknown.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code.Retryable()
}
