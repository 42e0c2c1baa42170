package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/zone"
)

// Host is the node as its membership sees it. server implements it.
type Host interface {
	// MetaReplica is the node's replica of the meta group, nil on a
	// standalone node.
	MetaReplica() *zone.Replica
	// MetaFSM is the meta group's state machine of that replica, nil on a
	// standalone node.
	MetaFSM() *fsm.Meta
	// ZoneReplica is the node's replica of zone z, nil if it has none.
	ZoneReplica(z string) *zone.Replica
	// Zones is the node's zone replicas.
	Zones() *zone.ReplicaSet
	// GossipHTTPAddr is node id's API address as gossip knows it, "" if
	// unknown.
	GossipHTTPAddr(id string) string
	// BootstrapZone forms the group of the node's own zone with voters,
	// opening its replica first if it has none; a group that already has
	// state is left as it is.
	BootstrapZone(voters []raft.Server) error
	// Apply proposes cmds as one entry in h's group on this node, its
	// leader, and waits for their results (a standalone node's
	// registrations, standalone.go).
	Apply(h *zone.Hosted, cmds ...fsm.Command) ([]fsm.Result, error)
}

// Config is what a Member needs to know of its node.
type Config struct {
	// NodeID is the node's id; HTTPAddr and RaftAddr the API and Raft
	// addresses it advertises.
	NodeID, HTTPAddr, RaftAddr string
	// Zone is the node's zone.
	Zone string
	// ApplyTimeout bounds one proposal to the meta group.
	ApplyTimeout time.Duration
	// Peer carries the calls to other nodes.
	Peer *peer.Client
	// Clustered is set on a cluster node (a meta group routes the zones);
	// a standalone zone has no meta group.
	Clustered bool
	// LeaderWait bounds the wait for a zone's leader to be known.
	LeaderWait time.Duration
	// ForwardTimeout bounds a batch's share forwarded to its zone's
	// leader, as a single request forwarded is bounded; 0: only by the
	// request's own context.
	ForwardTimeout time.Duration
	// HeartbeatTimeout is the node's Raft heartbeat timeout: a standalone
	// follower that has not heard from its leader for twice as long is
	// not ready.
	HeartbeatTimeout time.Duration
	// Stop closes when the node stops.
	Stop <-chan struct{}
	// APIError is the API's error for a node error (ApplyIdempotent
	// retries those whose code is retryable).
	APIError func(error) *api.Error
	// Count counts the outcomes of Forward: no_leader, redirected.
	Count func(outcome string)
	// Logger logs the membership's events.
	Logger *slog.Logger
}

// Member is a node's membership of the cluster. Its methods are safe for
// concurrent use.
type Member struct {
	cfg  Config
	host Host
	log  *slog.Logger

	// addrs caches node id -> API address (standalone: from the zone's
	// state machine, standalone.go).
	addrsMu sync.Mutex
	addrs   map[string]string
}

// New returns the membership of the node host with cfg.
func New(host Host, cfg Config) *Member {
	return &Member{cfg: cfg, host: host, log: cfg.Logger, addrs: map[string]string{}}
}

// Apply runs a meta command on the meta leader: here if this replica
// leads, else through the leader's internal endpoint.
func (m *Member) Apply(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	if err := c.Validate(); err != nil {
		return fsm.MetaResult{}, err
	}
	meta := m.host.MetaReplica()
	if meta.IsLeader() {
		c.Time = clock.Now().UnixMilli()
		out, err := meta.Apply(fsm.EncodeMeta(c), m.cfg.ApplyTimeout)
		if err != nil {
			return fsm.MetaResult{}, err
		}
		res, _ := out.(fsm.MetaResult)
		return res, nil
	}
	id, err := m.LeaderID()
	if err != nil {
		return fsm.MetaResult{}, err
	}
	addr, err := m.LeaderAddr(id)
	if err != nil {
		return fsm.MetaResult{}, err
	}
	var res fsm.MetaResult
	if err := m.cfg.Peer.PostJSON(ctx, addr, "/v1/internal/meta", c, &res); err != nil {
		return fsm.MetaResult{}, err
	}
	return res, nil
}

// ApplyIdempotent is Apply for a command that may be applied twice with
// one effect: it retries while the outcome is unknown or the meta group
// has no leader, until ctx ends.
func (m *Member) ApplyIdempotent(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	for {
		res, err := m.Apply(ctx, c)
		if err == nil || !m.cfg.APIError(err).Code.Retryable() {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ApplyForwarded runs a meta command another node forwarded to this one
// (the far end of Apply's forwarding). The command is checked
// (fsm.MetaCmd.Validate) before it is proposed: a malformed one is
// refused and changes nothing; so is one no node forwards
// (MetaSetNodeAddr: from outside it would redirect a node), and any
// command while this replica does not lead the meta group.
func (m *Member) ApplyForwarded(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	if err := c.Validate(); err != nil {
		return fsm.MetaResult{}, err
	}
	if c.Type == fsm.MetaSetNodeAddr {
		return fsm.MetaResult{}, api.Errorf(api.CodeInvalidArgument, "meta command %d is not forwarded between nodes", c.Type)
	}
	if !m.host.MetaReplica().IsLeader() {
		return fsm.MetaResult{}, api.Errorf(api.CodeUnavailable, "node %s does not lead the meta group", m.cfg.NodeID)
	}
	return m.Apply(ctx, c)
}

// Roles lists what this node hosts, for gossip: its zone replicas
// (zone.ReplicaSet.Roles) and "meta" when it votes in the meta group.
func (m *Member) Roles() []string {
	roles := m.host.Zones().Roles()
	if meta := m.host.MetaFSM(); m.host.MetaReplica() != nil && meta != nil {
		if nd, ok := meta.State().Node(m.cfg.NodeID); ok && nd.MetaVoter {
			roles = append(roles, "meta")
		}
	}
	return roles
}

// LeaderID is the id of the meta group's leader, as this node's replica
// knows it; an error wrapping zone.ErrNoLeader if it knows none.
func (m *Member) LeaderID() (string, error) {
	_, id := m.host.MetaReplica().Raft().LeaderWithID()
	if id == "" {
		return "", fmt.Errorf("%w: meta group has no leader", zone.ErrNoLeader)
	}
	return string(id), nil
}

// LeaderAddr is the API address of id, the meta group's leader, as the
// meta group's node list or else gossip knows it; an error wrapping
// zone.ErrNoLeader if neither does.
func (m *Member) LeaderAddr(id string) (string, error) {
	addr := m.HTTPAddrOf(id)
	if addr == "" {
		addr = m.host.GossipHTTPAddr(id)
	}
	if addr == "" {
		return "", fmt.Errorf("%w: meta leader %s has no known address", zone.ErrNoLeader, id)
	}
	return addr, nil
}

// LeaderAPIAddr is the API address of the meta group's leader: this
// node's own if it leads, else LeaderAddr's.
func (m *Member) LeaderAPIAddr() (string, error) {
	id, err := m.LeaderID()
	if err != nil {
		return "", err
	}
	if id == m.cfg.NodeID {
		return m.cfg.HTTPAddr, nil
	}
	return m.LeaderAddr(id)
}
