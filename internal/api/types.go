package api

// Account is the JSON form of a user's credit account. Amounts are int64
// minor units (cents).
type Account struct {
	User        uint64 `json:"user"`
	CreditLimit int64  `json:"credit_limit"`
	// Used is credit booked into bills and not yet repaid.
	Used int64 `json:"used"`
	// Pending is accepted payments not yet posted into a bill.
	Pending int64 `json:"pending"`
	// Available is CreditLimit - Used - Pending, never below zero.
	Available int64 `json:"available"`
	// Accepted and Repaid are lifetime totals: Used+Pending == Accepted-Repaid.
	Accepted  int64  `json:"accepted"`
	Repaid    int64  `json:"repaid"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	// Isolated is set by a failover store for an account on its blacklist:
	// the zone's latest writes to it may be missing here, so this state
	// may be stale until reconciliation.
	Isolated bool `json:"isolated,omitempty"`
}

// PutAccountRequest is the body of PUT /v1/accounts/{user}.
type PutAccountRequest struct {
	CreditLimit int64 `json:"credit_limit"`
}

// PayRequest is the body of POST /v1/accounts/{user}/payments.
type PayRequest struct {
	Key      string `json:"key"`
	Amount   int64  `json:"amount"`
	Merchant string `json:"merchant"`
}

// Payment statuses.
const (
	PaymentAccepted = "accepted" // credit reserved, waiting to be posted
	PaymentPosted   = "posted"   // booked into the bill of its cycle
	PaymentDeclined = "declined" // refused for lack of credit; the key stays refused
)

// Payment is the JSON form of a payment.
type Payment struct {
	Key       string `json:"key"`
	User      uint64 `json:"user"`
	Amount    int64  `json:"amount"`
	Merchant  string `json:"merchant"`
	Status    string `json:"status"`
	Cycle     string `json:"cycle"`
	CreatedAt string `json:"created_at"`
	PostedAt  string `json:"posted_at,omitempty"`
	// Index is the Raft log index that accepted (or declined) the payment.
	Index uint64 `json:"index"`
}

// PaymentList is one page of a user's payments, ordered by key.
type PaymentList struct {
	Payments []Payment `json:"payments"`
	// Next is the key to pass as ?after= for the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// RepayRequest is the body of POST /v1/accounts/{user}/repayments. Cycle is
// optional: empty pays the oldest outstanding bills first.
type RepayRequest struct {
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
	Cycle  string `json:"cycle,omitempty"`
}

// Repayment statuses.
const (
	RepaymentApplied = "applied"
	RepaymentRefused = "refused" // more than was owed; the key stays refused
)

// Allocation is the part of a repayment that went to one bill.
type Allocation struct {
	Cycle  string `json:"cycle"`
	Amount int64  `json:"amount"`
}

// Repayment is the JSON form of a repayment.
type Repayment struct {
	Key         string       `json:"key"`
	User        uint64       `json:"user"`
	Amount      int64        `json:"amount"`
	Cycle       string       `json:"cycle,omitempty"`
	Status      string       `json:"status"`
	Allocations []Allocation `json:"allocations,omitempty"`
	CreatedAt   string       `json:"created_at"`
	Index       uint64       `json:"index"`
}

// Bill statuses.
const (
	BillOpen = "open" // something is still owed (or nothing was booked yet)
	BillPaid = "paid" // everything booked has been repaid
)

// Bill is the JSON form of one user's bill for one cycle (YYYYMM).
type Bill struct {
	User        uint64 `json:"user"`
	Cycle       string `json:"cycle"`
	Principal   int64  `json:"principal"`
	Fees        int64  `json:"fees"`
	Paid        int64  `json:"paid"`
	Outstanding int64  `json:"outstanding"`
	DueDate     string `json:"due_date"`
	Status      string `json:"status"`
	Payments    int64  `json:"payments"`
	// Statement is the amount the cycle's statement said was due; empty
	// StatementAt means no statement yet.
	Statement   int64  `json:"statement,omitempty"`
	StatementAt string `json:"statement_at,omitempty"`
	UpdatedAt   string `json:"updated_at"`
}

// Notification is one message in a user's outbox (GET
// /v1/accounts/{user}/notifications), written by a scheduler job.
//
// Key is its idempotency key, derived from (job, cycle, user): the notifier
// delivers at least once, and a downstream that remembers keys delivers
// each once. DeliveredAt is when its delivery was recorded, empty while it
// waits in the outbox.
type Notification struct {
	User        uint64 `json:"user"`
	Key         string `json:"key"`
	Job         string `json:"job"`
	Cycle       string `json:"cycle"`
	Amount      int64  `json:"amount"`
	DueDate     string `json:"due_date"`
	CreatedAt   string `json:"created_at"`
	DeliveredAt string `json:"delivered_at,omitempty"`
	Index       uint64 `json:"index"`
}

// NotificationList is a user's outbox, oldest first.
type NotificationList struct {
	Notifications []Notification `json:"notifications"`
}

// BillList is every bill of a user, oldest cycle first.
type BillList struct {
	Bills []Bill `json:"bills"`
}

// Status is the JSON form of GET /v1/status: one node's view of its zone.
type Status struct {
	NodeID       string   `json:"node_id"`
	Zone         string   `json:"zone"`
	State        string   `json:"state"`
	Leader       string   `json:"leader"`
	LeaderHTTP   string   `json:"leader_http"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	LastContact  string   `json:"last_contact"`
	Voters       []Member `json:"voters"`
}

// Member is one server of a Raft group.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// JoinRequest is the body of POST /v1/cluster/join, sent by a new node to
// any member.
type JoinRequest struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// Validate checks that every field is given.
func (r *JoinRequest) Validate() error {
	if r.NodeID == "" || r.RaftAddr == "" || r.HTTPAddr == "" {
		return Errorf(CodeInvalidArgument, "node_id, raft_addr and http_addr are required")
	}
	return nil
}

// MaxBatch is the most items (payments, accounts) in one batch request.
const MaxBatch = 1000

// MaxBatchBodyBytes bounds a batch request's body.
const MaxBatchBodyBytes = 1 << 20

// BatchPayment is one payment of a batch: a PayRequest with its user.
type BatchPayment struct {
	User     uint64 `json:"user"`
	Key      string `json:"key"`
	Amount   int64  `json:"amount"`
	Merchant string `json:"merchant"`
}

// BatchRequest is the body of POST /v1/payments/batch.
type BatchRequest struct {
	Payments []BatchPayment `json:"payments"`
}

// BatchAccount is one account of a batch: a PutAccountRequest with its
// user.
type BatchAccount struct {
	User        uint64 `json:"user"`
	CreditLimit int64  `json:"credit_limit"`
}

// AccountBatchRequest is the body of POST /v1/accounts/batch.
type AccountBatchRequest struct {
	Accounts []BatchAccount `json:"accounts"`
}

// BatchResult is the outcome of one item of a batch, at the same position:
// Status is the HTTP status the single request would have got (201 new,
// 200 replay or account written, or the error's), with the payment or
// account, or the error.
type BatchResult struct {
	Status  int      `json:"status"`
	Payment *Payment `json:"payment,omitempty"`
	Account *Account `json:"account,omitempty"`
	Error   *Error   `json:"error,omitempty"`
}

// BatchResponse is the body of a batch's reply.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// Validate checks the batch's size; each payment is validated on its own
// and refused alone.
func (r *BatchRequest) Validate() error { return validateBatchSize("payments", len(r.Payments)) }

// Validate checks the batch's size; each account is validated on its own
// and refused alone.
func (r *AccountBatchRequest) Validate() error { return validateBatchSize("accounts", len(r.Accounts)) }

func validateBatchSize(what string, n int) error {
	if n == 0 || n > MaxBatch {
		return Errorf(CodeInvalidArgument, "a batch holds 1 to %d %s, got %d", MaxBatch, what, n)
	}
	return nil
}
