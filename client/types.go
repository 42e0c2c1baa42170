package client

import "github.com/rzonedb/rzone/internal/api"

// The types below are the JSON forms of the API's requests and replies,
// declared here so that the client and its documentation stand alone.
// Their JSON field names match the server's wire types exactly (a test
// compares them). Amounts are int64 minor units (cents) throughout; times
// are RFC 3339 strings in UTC unless a field says otherwise; cycles are
// billing months written YYYYMM.

// Account is a user's credit account.
type Account struct {
	// User is the account's user id.
	User uint64 `json:"user"`
	// CreditLimit is the most credit the user may have in use, in minor
	// units.
	CreditLimit int64 `json:"credit_limit"`
	// Used is credit booked into bills and not yet repaid, in minor units.
	Used int64 `json:"used"`
	// Pending is accepted payments not yet posted into a bill, in minor
	// units.
	Pending int64 `json:"pending"`
	// Available is CreditLimit - Used - Pending, never below zero, in minor
	// units: the largest payment that would be accepted now.
	Available int64 `json:"available"`
	// Accepted is the lifetime total of accepted payments, in minor units;
	// Used+Pending == Accepted-Repaid.
	Accepted int64 `json:"accepted"`
	// Repaid is the lifetime total of applied repayments, in minor units.
	Repaid int64 `json:"repaid"`
	// CreatedAt is when the account was created (RFC 3339).
	CreatedAt string `json:"created_at"`
	// UpdatedAt is when the account last changed (RFC 3339).
	UpdatedAt string `json:"updated_at"`
	// Isolated is set when the account was read from a failed-over zone's
	// failover store and is on its blacklist: the zone's latest writes to
	// it may be missing, so this state may be stale until reconciliation.
	// False (omitted) otherwise.
	Isolated bool `json:"isolated,omitempty"`
}

// PayRequest is a payment to make (Pay).
type PayRequest struct {
	// Key is the payment's idempotency key, unique per user: a request
	// sent again with the same key gets the original result.
	Key string `json:"key"`
	// Amount is the payment's amount in minor units, 1 to MaxAmount.
	Amount int64 `json:"amount"`
	// Merchant names who is paid; free text.
	Merchant string `json:"merchant"`
}

// Payment statuses, the values of Payment.Status.
const (
	// PaymentAccepted: credit is reserved, the payment waits to be posted.
	PaymentAccepted = "accepted"
	// PaymentPosted: the payment is booked into the bill of its cycle.
	PaymentPosted = "posted"
	// PaymentDeclined: refused for lack of credit; the key stays refused.
	PaymentDeclined = "declined"
)

// Payment is a payment as the server recorded it.
type Payment struct {
	// Key is the payment's idempotency key.
	Key string `json:"key"`
	// User is the paying user's id.
	User uint64 `json:"user"`
	// Amount is the payment's amount in minor units.
	Amount int64 `json:"amount"`
	// Merchant is the merchant given in the request.
	Merchant string `json:"merchant"`
	// Status is PaymentAccepted, PaymentPosted or PaymentDeclined.
	Status string `json:"status"`
	// Cycle is the billing cycle (YYYYMM) the payment belongs to.
	Cycle string `json:"cycle"`
	// CreatedAt is when the payment was accepted or declined (RFC 3339).
	CreatedAt string `json:"created_at"`
	// PostedAt is when it was posted into its bill (RFC 3339); empty until
	// then.
	PostedAt string `json:"posted_at,omitempty"`
	// Index is the Raft log index that accepted (or declined) the payment.
	Index uint64 `json:"index"`
}

// PaymentList is one page of a user's payments, ordered by key.
type PaymentList struct {
	// Payments is the page, in key order; empty past the last payment.
	Payments []Payment `json:"payments"`
	// Next is the key to pass as ListOptions.After for the next page;
	// empty on the last page.
	Next string `json:"next,omitempty"`
}

// RepayRequest is a repayment to make (Repay).
type RepayRequest struct {
	// Key is the repayment's idempotency key, unique per user.
	Key string `json:"key"`
	// Amount is the repayment's amount in minor units.
	Amount int64 `json:"amount"`
	// Cycle, if set (YYYYMM), pays that cycle's bill; empty pays the
	// oldest outstanding bills first.
	Cycle string `json:"cycle,omitempty"`
}

// Repayment statuses, the values of Repayment.Status.
const (
	// RepaymentApplied: the repayment was booked against the bills.
	RepaymentApplied = "applied"
	// RepaymentRefused: it was more than was owed; the key stays refused.
	RepaymentRefused = "refused"
)

// Allocation is the part of a repayment that went to one bill.
type Allocation struct {
	// Cycle is the bill's cycle (YYYYMM).
	Cycle string `json:"cycle"`
	// Amount is what went to that bill, in minor units.
	Amount int64 `json:"amount"`
}

// Repayment is a repayment as the server recorded it.
type Repayment struct {
	// Key is the repayment's idempotency key.
	Key string `json:"key"`
	// User is the repaying user's id.
	User uint64 `json:"user"`
	// Amount is the repayment's amount in minor units.
	Amount int64 `json:"amount"`
	// Cycle is the cycle the request named; empty if it named none.
	Cycle string `json:"cycle,omitempty"`
	// Status is RepaymentApplied or RepaymentRefused.
	Status string `json:"status"`
	// Allocations says which bills the amount paid, oldest first; empty
	// for a refused repayment.
	Allocations []Allocation `json:"allocations,omitempty"`
	// CreatedAt is when the repayment was applied or refused (RFC 3339).
	CreatedAt string `json:"created_at"`
	// Index is the Raft log index that applied (or refused) it.
	Index uint64 `json:"index"`
}

// Bill statuses, the values of Bill.Status.
const (
	// BillOpen: something is still owed (or nothing was booked yet).
	BillOpen = "open"
	// BillPaid: everything booked has been repaid.
	BillPaid = "paid"
)

// Bill is one user's bill for one cycle.
type Bill struct {
	// User is the billed user's id.
	User uint64 `json:"user"`
	// Cycle is the bill's cycle (YYYYMM).
	Cycle string `json:"cycle"`
	// Principal is the sum of the payments posted into it, in minor units.
	Principal int64 `json:"principal"`
	// Fees are charges added to it, in minor units.
	Fees int64 `json:"fees"`
	// Paid is what repayments have paid of it, in minor units.
	Paid int64 `json:"paid"`
	// Outstanding is Principal + Fees - Paid, in minor units.
	Outstanding int64 `json:"outstanding"`
	// DueDate is the day it is due (YYYY-MM-DD).
	DueDate string `json:"due_date"`
	// Status is BillOpen or BillPaid.
	Status string `json:"status"`
	// Payments is how many payments are posted into it.
	Payments int64 `json:"payments"`
	// Statement is the amount the cycle's statement said was due, in minor
	// units; 0 (omitted) while there is no statement.
	Statement int64 `json:"statement,omitempty"`
	// StatementAt is when the statement was made (RFC 3339); empty means
	// no statement yet.
	StatementAt string `json:"statement_at,omitempty"`
	// UpdatedAt is when the bill last changed (RFC 3339).
	UpdatedAt string `json:"updated_at"`
}

// Notification is one message in a user's outbox, written by a scheduler
// job (a statement, a reminder, an autodebit).
type Notification struct {
	// User is the notified user's id.
	User uint64 `json:"user"`
	// Key is the message's idempotency key, derived from (job, cycle,
	// user): the notifier delivers at least once, and a downstream that
	// remembers keys delivers each once.
	Key string `json:"key"`
	// Job is the job that wrote it: statement, reminder or autodebit.
	Job string `json:"job"`
	// Cycle is the billing cycle it is about (YYYYMM).
	Cycle string `json:"cycle"`
	// Amount is the amount it states, in minor units.
	Amount int64 `json:"amount"`
	// DueDate is the due date it states (YYYY-MM-DD).
	DueDate string `json:"due_date"`
	// CreatedAt is when it was written (RFC 3339).
	CreatedAt string `json:"created_at"`
	// DeliveredAt is when its delivery was recorded (RFC 3339); empty
	// while it waits in the outbox.
	DeliveredAt string `json:"delivered_at,omitempty"`
	// Index is the Raft log index that wrote it.
	Index uint64 `json:"index"`
}

// NotificationList is a user's outbox, oldest first.
type NotificationList struct {
	// Notifications are the messages, oldest first.
	Notifications []Notification `json:"notifications"`
}

// Status is one node's view of its zone (GET /v1/status).
type Status struct {
	// NodeID is the answering node's id.
	NodeID string `json:"node_id"`
	// Zone is the node's zone.
	Zone string `json:"zone"`
	// State is the node's Raft state in its zone's group: Leader,
	// Follower or Candidate.
	State string `json:"state"`
	// Leader is the node id of the zone's leader; empty if unknown.
	Leader string `json:"leader"`
	// LeaderHTTP is the API address of the zone's leader; empty if
	// unknown.
	LeaderHTTP string `json:"leader_http"`
	// Term is the node's current Raft term.
	Term uint64 `json:"term"`
	// CommitIndex is the highest log index the node knows is committed.
	CommitIndex uint64 `json:"commit_index"`
	// AppliedIndex is the highest log index the node has applied.
	AppliedIndex uint64 `json:"applied_index"`
	// LastContact is when the node last heard from its leader (RFC 3339
	// with nanoseconds), meaningful on a follower; empty if it never did.
	LastContact string `json:"last_contact"`
	// Voters are the voting members of the zone's group.
	Voters []Member `json:"voters"`
}

// Member is one server of a Raft group.
type Member struct {
	// ID is the node's id.
	ID string `json:"id"`
	// RaftAddr is its Raft address.
	RaftAddr string `json:"raft_addr"`
	// HTTPAddr is its API address; empty if not known.
	HTTPAddr string `json:"http_addr,omitempty"`
	// Suffrage is Voter, Nonvoter or Staging.
	Suffrage string `json:"suffrage"`
	// Leader is set on the group's leader.
	Leader bool `json:"leader"`
}

// ListOptions pages a list: After is the last key of the previous page,
// Limit the page size (0 means the server's default of 100).
type ListOptions struct {
	After string
	Limit int
}

// MaxAmount is the largest amount the API accepts, in minor units.
const MaxAmount = api.MaxAmount
