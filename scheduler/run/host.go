package run

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Host is what the runtime needs from the node it runs on. Its methods are
// safe for concurrent use.
type Host interface {
	// NodeID and Zone name this node and its own zone.
	NodeID() string
	Zone() string

	// MetaState is this node's replica of the meta group's state.
	MetaState() fsm.MetaState
	// MetaApply commits a command in the meta group, which this node leads.
	MetaApply(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error)
	// IsMetaLeader reports whether this node leads the meta group now, and
	// MetaTerm is the meta group's current term on this node.
	IsMetaLeader() bool
	MetaTerm() uint64
	// ApplyTimeout bounds one of the runtime's meta applies and calls.
	ApplyTimeout() time.Duration

	// AliveNodes is the cluster members alive now, at least 1: times a
	// worker's slots, the worker slots online.
	AliveNodes() int

	// MetaLeaderAddr is the API address of the meta group's leader, and
	// ZoneLeaderAddr that of zone's leader (this node's own address when
	// it leads it).
	MetaLeaderAddr() (string, error)
	ZoneLeaderAddr(ctx context.Context, zone string) (string, error)
	// PostJSON and GetJSON call another node's internal API (the paths
	// below) and decode its reply into reply; an error reply is an
	// *api.Error.
	PostJSON(ctx context.Context, addr, path string, req, reply any) error
	GetJSON(ctx context.Context, addr, path string, reply any) error

	// LedGroups are the zone groups (the own zone, failover stores) this
	// node leads now with their shard ownership set up and their ownership
	// lease valid: those whose outbox it delivers.
	LedGroups() []Group
	// OwnUndelivered is the count of the own zone's outbox notifications
	// not recorded as delivered (0 before the zone exists).
	OwnUndelivered() uint64

	// Done is closed when the node stops.
	Done() <-chan struct{}
	Logger() *slog.Logger
	Registerer() prometheus.Registerer
	// Now is the node's wall clock.
	Now() time.Time
}

// Group is a zone group this node leads, as the outbox's delivery and the
// effects of tasks use it.
type Group interface {
	// Name is the group's name: a zone, or a failover store.
	Name() string
	// Term is the group's current Raft term on this node.
	Term() uint64
	// LeaseValid reports whether the group holds its ownership lease now.
	LeaseValid() bool
	// Undelivered is up to max of the oldest notifications of the outbox
	// not recorded as delivered.
	Undelivered(max int) ([]api.Notification, error)
	// Bill and Repayment read the group's state machine.
	Bill(user uint64, cycle uint32) (*api.Bill, error)
	Repayment(user uint64, key string) (*api.Repayment, error)
	// Apply commits cmds as one log entry; ApplyGated does so behind the
	// write gate (shard ownership set up, the ownership lease held before
	// and after the commit).
	Apply(cmds ...fsm.Command) ([]fsm.Result, error)
	ApplyGated(ctx context.Context, cmds ...fsm.Command) ([]fsm.Result, error)
}

// The internal API of the scheduler: a worker asks the meta leader for
// leases and reports on them, the scheduler leader and workers read due
// users from zone leaders, and workers send effects to zone leaders.
const (
	PathLease   = "/v1/internal/sched/lease"
	PathReport  = "/v1/internal/sched/report"
	PathDue     = "/v1/internal/sched/due"
	PathEffects = "/v1/internal/sched/effects"
)

// LeaseRequest is a worker's ask for tasks of its zone (POST PathLease).
type LeaseRequest struct {
	Worker string `json:"worker"`
	Zone   string `json:"zone"`
	Max    int    `json:"max"`
}

// ReportRequest is a worker's checkpoint or completion of a lease, with
// what its calls to the downstream saw, for the adaptive limit (POST
// PathReport).
type ReportRequest struct {
	Complete bool         `json:"complete"`
	Job      string       `json:"job"`
	Cmd      fsm.SchedCmd `json:"cmd"`
	Calls    int          `json:"calls"`    // calls since the last report
	Failed   int          `json:"failed"`   // of which failed
	RTTUs    int64        `json:"rtt_us"`   // mean latency of those calls, microseconds
	SentMs   int64        `json:"sent_ms"`  // when the first of them was sent (Unix ms)
	InFlight int          `json:"inflight"` // tasks the worker ran meanwhile
}

// DueQuery is the query of GET PathDue: a page of at most Limit of
// Shard's users due in Cycle, from From up to Hi, read from the leader of
// Group ("": the serving node's zone); with Count, also the zone's count of
// the whole shard's due users.
//
// Count is the query parameter count: "1", or absent (what nodes that
// predate it send), asks for the count, "0" asks for none. The count walks
// every bill of the zone, and its read commits the zone's state file
// first, so only generation, which checks a whole shard against it, asks
// for it; a task's load asks for none (it checks it has at least the
// task's count of users). A node that predates the parameter ignores it
// and sends a count the asker ignores.
type DueQuery struct {
	Group    string
	Shard    int
	Cycle    uint32
	From, Hi uint64
	Limit    int
	Count    bool
}

// Values encodes q as URL query values.
func (q DueQuery) Values() url.Values {
	count := "0"
	if q.Count {
		count = "1"
	}
	return url.Values{"group": {q.Group}, "shard": {strconv.Itoa(q.Shard)}, "cycle": {api.FormatCycle(q.Cycle)},
		"from": {strconv.FormatUint(q.From, 10)}, "hi": {strconv.FormatUint(q.Hi, 10)}, "limit": {strconv.Itoa(q.Limit)},
		"count": {count}}
}

// ParseDueQuery parses what Values encodes, refusing a shard out of range,
// a limit that is not positive and a count other than "0", "1" or absent
// (absent: Count).
func ParseDueQuery(v url.Values) (DueQuery, *api.Error) {
	q := DueQuery{Group: v.Get("group")}
	var err1, err2, err3, err4, err5 error
	q.Shard, err1 = strconv.Atoi(v.Get("shard"))
	q.Cycle, err2 = api.ParseCycle(v.Get("cycle"))
	q.From, err3 = strconv.ParseUint(v.Get("from"), 10, 64)
	q.Hi, err4 = strconv.ParseUint(v.Get("hi"), 10, 64)
	q.Limit, err5 = strconv.Atoi(v.Get("limit"))
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || q.Shard < 0 || q.Shard >= fsm.NumShards || q.Limit <= 0 {
		return DueQuery{}, api.Errorf(api.CodeInvalidArgument, "want shard, cycle, from, hi and limit")
	}
	switch c, ok := v["count"]; {
	case !ok:
		q.Count = true
	case len(c) == 1 && c[0] == "1":
		q.Count = true
	case len(c) == 1 && c[0] == "0":
	default:
		return DueQuery{}, api.Errorf(api.CodeInvalidArgument, "count is 0 (no count) or 1 (the shard's count), not %q", strings.Join(c, ","))
	}
	return q, nil
}

// NoCount is DuePage.Count when the query asked for no count.
const NoCount = -1

// DuePage is the body of the reply to GET PathDue: the page's users and,
// when the query asked for it, the zone's count of the shard's due users
// (else NoCount).
type DuePage struct {
	Users []uint64 `json:"users"`
	Count int64    `json:"count"`
}

// EffectsRequest is the body of POST PathEffects.
type EffectsRequest struct {
	// Group is the group the task's shard is routed to: a zone, or a
	// failover store hosted by the serving node's zone ("": its own zone).
	Group string   `json:"group,omitempty"`
	Job   string   `json:"job"`
	Cycle uint32   `json:"cycle"`
	Users []uint64 `json:"users"`
}

// MaxEffectsUsers is the most users of one EffectsRequest.
const MaxEffectsUsers = 10_000

// Validate checks the number of users: 1 to MaxEffectsUsers.
func (r *EffectsRequest) Validate() error {
	if len(r.Users) == 0 || len(r.Users) > MaxEffectsUsers {
		return api.Errorf(api.CodeInvalidArgument, "want 1 to 10000 users")
	}
	return nil
}

// EffectsReply says, per user in order, how the effect went: "ok",
// "replay" (done before), "not_due" (no bill, or nothing to debit), or
// "failed"; Applied is how many users from the start are settled (every
// reply up to the first failure). RTTUs and Calls are the downstream calls
// made (the bank, for autodebit).
type EffectsReply struct {
	Results []string `json:"results"`
	Applied int      `json:"applied"`
	Calls   int      `json:"calls"`
	Failed  int      `json:"failed"`
	RTTUs   int64    `json:"rtt_us"` // mean latency of the calls, microseconds
}
