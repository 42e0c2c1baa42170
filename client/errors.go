package client

import (
	"errors"
	"fmt"

	"github.com/rzonedb/rzone/internal/api"
)

// Code is an API error code, the code of an *Error or a ResultError. The
// constants below are the codes the API sends; README.md lists them with
// their HTTP statuses. Every code a caller may act on has a sentinel error
// (ErrInsufficientCredit for CodeInsufficientCredit, ...) that matches it
// with errors.Is.
type Code string

// The API's error codes.
const (
	// CodeInvalidArgument (400): the request is malformed; nothing changed.
	CodeInvalidArgument Code = "invalid_argument"
	// CodeNotFound (404): no such account, payment or bill.
	CodeNotFound Code = "not_found"
	// CodeIdempotencyConflict (409): the key was used with other
	// parameters.
	CodeIdempotencyConflict Code = "idempotency_conflict"
	// CodeInsufficientCredit (422): the payment exceeds available credit.
	CodeInsufficientCredit Code = "insufficient_credit"
	// CodeOverpayment (422): the repayment exceeds what is owed.
	CodeOverpayment Code = "overpayment"
	// CodePayloadTooLarge (413): the body is too large.
	CodePayloadTooLarge Code = "payload_too_large"
	// CodeUnavailable (503): not applied; retry with the same key.
	CodeUnavailable Code = "unavailable"
	// CodeUnknownOutcome (503): may have been applied; retry with the same
	// key to settle it.
	CodeUnknownOutcome Code = "unknown_outcome"
	// CodeLeaseExpired (503): the zone holds no ownership lease; not
	// applied; retry.
	CodeLeaseExpired Code = "lease_expired"
	// CodeWrongZone (421): the user's shard is owned by another zone; the
	// client refreshes its routes and retries.
	CodeWrongZone Code = "wrong_zone"
	// CodeVersionConflict (409): a config compare-and-set found another
	// version.
	CodeVersionConflict Code = "version_conflict"
	// CodeAccountIsolated (423): the zone is failed over and the
	// account's latest state may be missing; state-type writes wait for
	// reconciliation.
	CodeAccountIsolated Code = "account_isolated"
	// CodeFailover (409): a failover or recovery step is not possible in
	// the zone's phase.
	CodeFailover Code = "failover_refused"
	// CodeInternal (500): a bug; the message says more.
	CodeInternal Code = "internal"
	// CodeUnauthenticated (401): no token, or not a token this cluster
	// knows.
	CodeUnauthenticated Code = "unauthenticated"
	// CodePermissionDenied (403): the token's role does not allow the
	// request.
	CodePermissionDenied Code = "permission_denied"
	// CodeMethodNotAllowed (405): the path exists, not with this method.
	CodeMethodNotAllowed Code = "method_not_allowed"
	// CodeClusterExists (409): the cluster is already initialized with
	// another zone set.
	CodeClusterExists Code = "cluster_exists"
	// CodeLeaseValid (409): the zone still holds a valid ownership lease;
	// a failover needs Forced().
	CodeLeaseValid Code = "lease_valid"
)

// Retryable reports whether a request that got c may be sent again with
// the same idempotency key.
func (c Code) Retryable() bool {
	return c == CodeUnavailable || c == CodeUnknownOutcome || c == CodeLeaseExpired || c == CodeWrongZone
}

// HTTPStatus is the HTTP status the API sends with c.
func (c Code) HTTPStatus() int { return api.Code(c).HTTPStatus() }

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

var sentinels = map[Code]error{
	CodeInvalidArgument:     ErrInvalidArgument,
	CodeNotFound:            ErrNotFound,
	CodeIdempotencyConflict: ErrIdempotencyConflict,
	CodeInsufficientCredit:  ErrInsufficientCredit,
	CodeOverpayment:         ErrOverpayment,
	CodePayloadTooLarge:     ErrPayloadTooLarge,
	CodeUnavailable:         ErrUnavailable,
	CodeUnknownOutcome:      ErrUnknownOutcome,
	CodeInternal:            ErrInternal,
	CodeLeaseExpired:        ErrLeaseExpired,
	CodeWrongZone:           ErrWrongZone,
	CodeVersionConflict:     ErrVersionConflict,
	CodeAccountIsolated:     ErrAccountIsolated,
	CodeFailover:            ErrFailoverRefused,
	CodeUnauthenticated:     ErrUnauthenticated,
	CodePermissionDenied:    ErrPermissionDenied,
	CodeLeaseValid:          ErrLeaseValid,
	CodeClusterExists:       ErrClusterExists,
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
	// waited: the request was not sent for want of a free connection
	// within its timeout; the node may well be up (the backlog is the
	// client's own), so its leader is not forgotten.
	waited bool
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
