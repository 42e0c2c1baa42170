package server

import (
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/zone"
)

// hosted is one replica of a zone group on this node, as the node's
// replica set (zone.ReplicaSet, zone/replicaset.go) keeps it.
type hosted struct {
	zone  string
	rep   *zone.Replica
	fsm   *fsm.FSM
	voter bool
	// ready is set once the zone's shard ownership matches the meta group's
	// route table (always, standalone); a voter serves writes only then.
	ready atomic.Bool
	// store is set for a failover store: a group made from this zone's
	// async follower of a failed zone (cluster mode).
	store bool
	// lease is the group's ownership lease as this node holds it
	// (cluster mode).
	lease zone.Lease
	// guard keeps the guard marks of the own zone in its backup zone.
	guard zone.GuardHolder
	// firstPaid is set once a failover store has accepted a payment.
	firstPaid atomic.Bool
}

// isReady reports whether the zone's shard ownership has been set up; once
// it is, it stays (it is replicated state). A failover store is ready only
// once its CmdFailover is applied: until then its state is the lost zone's
// replica, which still says it owns the zone's shards.
func (h *hosted) isReady() bool {
	if h.ready.Load() {
		return true
	}
	if !h.fsm.Sharded() {
		return false
	}
	if h.store {
		if fi, err := h.fsm.Failover(); err != nil || fi == nil {
			return false
		}
	}
	h.ready.Store(true)
	return true
}

// replicaConfig is the ReplicaConfig of group under dir, with the node's
// Raft tunables.
func (n *Node) replicaConfig(group, dir string, stream raft.StreamLayer) zone.ReplicaConfig {
	c := &n.cfg
	return zone.ReplicaConfig{
		Group: group, NodeID: c.NodeID, Dir: dir, Stream: stream,
		HeartbeatTimeout: c.HeartbeatTimeout, ElectionTimeout: c.ElectionTimeout, LeaderLeaseTimeout: c.LeaderLeaseTimeout,
		SnapshotThreshold: c.SnapshotThreshold, SnapshotInterval: c.SnapshotInterval, TrailingLogs: c.TrailingLogs,
		MaxAppendEntries: c.MaxAppendEntries, Logger: n.log, Metrics: n.metrics.zone,
	}
}

// newReplicaSet makes the node's (empty) replica set.
func (n *Node) newReplicaSet() *zone.ReplicaSet {
	c := &n.cfg
	return zone.NewReplicaSet(zoneHost{n: n}, zone.SetConfig{Clustered: n.clustered, NodeID: c.NodeID, Zone: c.Zone,
		DataDir: c.DataDir, RaftAddr: c.raftAdvertise(), ApplyTimeout: c.ApplyTimeout,
		HeartbeatTimeout: c.HeartbeatTimeout, ElectionTimeout: c.ElectionTimeout, Logger: n.log,
		Commit: fsm.CommitPolicy{Entries: fsm.DefaultCommitPolicy.Entries, Interval: c.StateCommitInterval}})
}

// openZone opens this node's replica of zone's group in dir and registers
// it (zone.ReplicaSet.Open). voter marks the node's own zone.
func (n *Node) openZone(zoneName, dir string, voter bool) (*hosted, error) {
	h, err := n.zones.Open(zoneName, dir, voter)
	if err != nil {
		return nil, err
	}
	return h.(*hosted), nil
}

func (n *Node) closeAll() {
	n.zones.CloseAll()
	// n.meta and n.gossip stay set, shut down: a request the API's
	// shutdown did not wait out (its context ended first) reads them
	// without the node's lock, and gets a closed group's error rather than
	// a nil pointer (and no data race on the fields).
	if n.meta != nil {
		n.meta.Shutdown()
	}
	if n.gossip != nil {
		n.gossip.Shutdown()
	}
	if n.mux != nil {
		n.mux.Close()
	}
}

// ownZone returns the node's own zone replica, or nil before it exists.
func (n *Node) ownZone() *hosted {
	h, _ := n.zones.Own().(*hosted)
	return h
}

// hostedZone returns this node's replica of zone, or nil.
func (n *Node) hostedZone(z string) *hosted {
	h, _ := n.zones.Get(z).(*hosted)
	return h
}

// hostedZones lists this node's zone replicas, in name order.
func (n *Node) hostedZones() []*hosted {
	ms := n.zones.List()
	out := make([]*hosted, len(ms))
	for i, m := range ms {
		out[i] = m.(*hosted)
	}
	return out
}

// closeZone stops and forgets a hosted replica.
func (n *Node) closeZone(h *hosted) { n.zones.Close(h) }

// leaseValid reports whether group h may accept writes now: always when
// standalone; in cluster mode while its ownership lease lasts by this
// node's clock.
func (n *Node) leaseValid(h *hosted) bool { return n.zones.LeaseValid(h) }
