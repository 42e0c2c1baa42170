package api

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Code is a stable, documented error code carried in every error reply as
// {"error":{"code":..., "message":...}}.
type Code string

// The error codes. Their HTTP statuses are fixed by HTTPStatus; README.md
// documents both.
const (
	CodeInvalidArgument     Code = "invalid_argument"     // 400: the request is malformed; nothing changed
	CodeNotFound            Code = "not_found"            // 404: no such account, payment or bill
	CodeIdempotencyConflict Code = "idempotency_conflict" // 409: the key was used with other parameters
	CodeInsufficientCredit  Code = "insufficient_credit"  // 422: the payment exceeds available credit
	CodeOverpayment         Code = "overpayment"          // 422: the repayment exceeds what is owed
	CodePayloadTooLarge     Code = "payload_too_large"    // 413: the body exceeds MaxBodyBytes
	CodeUnavailable         Code = "unavailable"          // 503: not applied; retry (same key)
	CodeUnknownOutcome      Code = "unknown_outcome"      // 503: may have applied; retry with the same key
	CodeLeaseExpired        Code = "lease_expired"        // 503: the zone holds no ownership lease; not applied; retry
	CodeWrongZone           Code = "wrong_zone"           // 421: the user's shard is owned by another zone; refresh routes and retry
	CodeVersionConflict     Code = "version_conflict"     // 409: a compare-and-set found another version
	CodeAccountIsolated     Code = "account_isolated"     // 423: the zone is failed over and this account's latest state may be missing; state-type writes wait for reconciliation
	CodeFailover            Code = "failover_refused"     // 409: a failover or recovery step is not possible in the zone's phase
	CodeInternal            Code = "internal"             // 500: a bug; the message says more
	CodeUnauthenticated     Code = "unauthenticated"      // 401: no token, or not a token this cluster knows
	CodePermissionDenied    Code = "permission_denied"    // 403: the token's role does not allow the request
	CodeMethodNotAllowed    Code = "method_not_allowed"   // 405: the path exists, not with this method; the Allow header lists those it takes
	CodeClusterExists       Code = "cluster_exists"       // 409: the cluster is already initialized with another zone set
	CodeLeaseValid          Code = "lease_valid"          // 409: the zone still holds a valid ownership lease; a failover needs force
)

// HTTPStatus is the status code that goes with c.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeInvalidArgument:
		return http.StatusBadRequest
	case CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeIdempotencyConflict, CodeVersionConflict, CodeFailover, CodeClusterExists, CodeLeaseValid:
		return http.StatusConflict
	case CodeInsufficientCredit, CodeOverpayment:
		return http.StatusUnprocessableEntity
	case CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnavailable, CodeUnknownOutcome, CodeLeaseExpired:
		return http.StatusServiceUnavailable
	case CodeWrongZone:
		return http.StatusMisdirectedRequest
	case CodeAccountIsolated:
		return http.StatusLocked
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodePermissionDenied:
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// Retryable reports whether a request that got c may be sent again with the
// same idempotency key.
func (c Code) Retryable() bool {
	return c == CodeUnavailable || c == CodeUnknownOutcome || c == CodeLeaseExpired || c == CodeWrongZone
}

// AnswersKey reports whether c is the answer about a write's key itself,
// which every attempt with that key gets alike (a decline, an overpayment,
// the key used with other parameters): unlike the other errors, it says
// what became of an earlier attempt too.
func (c Code) AnswersKey() bool {
	return c == CodeInsufficientCredit || c == CodeOverpayment || c == CodeIdempotencyConflict
}

// Error is an API error: the body of every non-2xx reply.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Epoch is the current route epoch, with CodeWrongZone.
	Epoch uint64 `json:"epoch,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// ErrorBody is the JSON envelope of Error.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WriteError answers an HTTP request with e: its status and its
// ErrorBody.
func WriteError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code.HTTPStatus())
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: e})
}

// CreatedStatus is a write's success status: 201 when it was applied now,
// 200 when its key had been decided before and this is the original result.
func CreatedStatus(replay bool) int {
	if replay {
		return http.StatusOK
	}
	return http.StatusCreated
}
