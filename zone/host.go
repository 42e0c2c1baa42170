package zone

import (
	"context"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Host is the node a zone's drivers run on (the guard keeper,
// guardkeeper.go; the lease keeper, lease.go; the failover driver,
// failover.go, through FailoverHost; the shard move driver, shardmove.go,
// through ShardMoveHost): what they read of the meta
// group and of the node's replicas, and how they reach other nodes. The
// server implements it on its Node; the drivers never see the node's HTTP
// handlers, which stay in the server.
type Host interface {
	// Clustered reports whether the node runs in cluster mode (a meta
	// group routes the zones); a standalone zone has no backup and no
	// lease.
	Clustered() bool
	// Meta is the node's replica of the meta group's state machine.
	Meta() *fsm.Meta
	// MetaApply runs c on the meta group's leader: here if this node
	// leads it, else through the leader's internal endpoint.
	MetaApply(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error)
	// OwnZone is the node's voter replica of its own zone, nil before it
	// exists.
	OwnZone() Group
	// Groups lists every zone replica the node hosts (its own zone, async
	// followers, failover stores), in name order.
	Groups() []Group
	// RetryZone calls fn with the API address of zone z's leader until fn
	// succeeds, fails for good, or ctx ends.
	RetryZone(ctx context.Context, z string, fn func(addr string) error) error
	// PostJSON posts in to addr+path and decodes the reply into out (nil:
	// the reply is dropped); an error reply becomes an *api.Error.
	PostJSON(ctx context.Context, addr, path string, in, out any) error
	// AskReplicas returns the replica states nodes report, by node id; a
	// node that does not answer in time is missing.
	AskReplicas(ctx context.Context, nodes []fsm.NodeInfo) map[string][]api.ReplicaState
}

// FailoverHost is the Host of the failover driver (failover.go), which
// also drives operations of the meta group and runs goroutines of its own.
type FailoverHost interface {
	Host
	// MetaLeader reports whether this node leads the meta group now.
	MetaLeader() bool
	// MetaApplyIdempotent is MetaApply for a command that may be applied
	// twice with one effect: it retries while the outcome is unknown or
	// the meta group has no leader, until ctx ends.
	MetaApplyIdempotent(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error)
	// NoteOp records an operation's phase and progress, best effort.
	NoteOp(ctx context.Context, id, phase string, progress int, detail string, err error)
	// NewOpID makes an operation id.
	NewOpID() string
	// GetJSON GETs addr+path into out; an error reply becomes an
	// *api.Error.
	GetJSON(ctx context.Context, addr, path string, out any) error
	// Answers reports whether the node at API address addr answers now
	// (any reply counts; a refused or timed-out connection does not).
	Answers(ctx context.Context, addr string) bool
	// Go runs fn as one of the node's goroutines: the node's shutdown
	// waits for it.
	Go(fn func())
	// Stopping is closed once the node stops.
	Stopping() <-chan struct{}
}

// Group is one of the node's hosted replicas of a zone group (a zone, or a
// failover store of one) as the drivers see it.
type Group interface {
	// Name is the zone, or failover store, the replica belongs to.
	Name() string
	// Replica is the node's member of the group.
	Replica() *Replica
	// Voter reports whether the node votes in the group (its own zone, or
	// a failover store it hosts); else the replica is an async follower.
	Voter() bool
	// Store reports whether the group is a failover store.
	Store() bool
	// Ready reports whether the group's shard ownership is set up (a
	// failover store: once its CmdFailover is applied).
	Ready() bool
	// Lease is the group's ownership lease as this node holds it.
	Lease() *Lease
	// Guard is the group's guard marks in its backup zone (own zone only).
	Guard() *GuardHolder
}

// DriverConfig is what the drivers take of the node's configuration.
type DriverConfig struct {
	// NodeID is the node's id (the holder of the leases it renews).
	NodeID string
	// ApplyTimeout bounds a proposal, and the requests the drivers make to
	// other zones' leaders.
	ApplyTimeout time.Duration
	// LeaseDuration is how long an ownership lease lasts.
	LeaseDuration time.Duration
	// Logger is the node's logger.
	Logger *slog.Logger
}

// ReplicaHost is the node as its replica set (replicaset.go) sees it: how
// a replica is made and reaches its peers, and what the set's upkeep of
// async followers and failover stores (converge.go, store.go) asks of the
// node. The server implements it (server/zonehost.go).
type ReplicaHost interface {
	// Layer is the stream layer of group on the node's raft port.
	Layer(group string) (raft.StreamLayer, error)
	// ReplicaConfig is the ReplicaConfig of group under dir, with the
	// node's Raft tunables; stream may be nil (a promotion).
	ReplicaConfig(group, dir string, stream raft.StreamLayer) ReplicaConfig
	// CommitObserver is what group's state machine reports each commit's
	// cost to.
	CommitObserver(group string) func(fsm.CommitStats)
	// Apply proposes cmds as one log entry in h's group and waits for
	// their results (through the node's guard keeper).
	Apply(h *Hosted, cmds ...fsm.Command) ([]fsm.Result, error)
	// Accepted is given the results of cmds that h's group applied behind
	// the write gate (ReplicaSet.ApplyGated), before the gate's last lease
	// check; the node counts a failover store's payments.
	Accepted(h *Hosted, cmds []fsm.Command, res []fsm.Result)
	// RenewLease renews h's ownership lease now.
	RenewLease(h Group)
	// RolesChanged tells the node that the replicas it hosts changed (it
	// re-broadcasts its roles).
	RolesChanged()
}

// HandoffHost is the node as its hand-offs (drain.go) and its removal,
// drain and undrain (nodeops.go) see it.
type HandoffHost interface {
	// LedGroups lists the groups this node leads now: the meta group and
	// the zone groups it votes in.
	LedGroups() []LedGroup
	// MetaState is the node's meta state (zero when it has none).
	MetaState() fsm.MetaState
	// Alive returns the nodes gossip shows alive, by id; gossip is false
	// when the node runs no gossip (standalone).
	Alive() (alive map[string]bool, gossip bool)
	// Meta is the node's replica of the meta group's state machine (a
	// drain waits until it has applied the drain).
	Meta() *fsm.Meta
	// MetaApply runs c on the meta group's leader (Host.MetaApply).
	MetaApply(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error)
}
