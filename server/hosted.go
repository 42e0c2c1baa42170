package server

import (
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/zone"
)

// hosted is one replica of a zone group on this node.
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

// openZone opens this node's replica of zone's group in dir and registers
// it. voter marks the node's own zone.
func (n *Node) openZone(zoneName, dir string, voter bool) (*hosted, error) {
	group := "zone/" + zoneName
	layer, err := n.mux.Layer(group)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		layer.Close()
		return nil, err
	}
	f, err := fsm.Open(filepath.Join(dir, "state.db"), n.log.With("group", group))
	if err != nil {
		layer.Close()
		return nil, err
	}
	commits := n.metrics.stateCommit.WithLabelValues(group)
	f.ObserveCommits(func(d time.Duration) { commits.Observe(d.Seconds()) })
	rc := n.replicaConfig(group, dir, layer)
	rc.SelfRestoring = true
	if voter && zoneName != n.cfg.Zone {
		// A failover store: its nodes sit in one zone, and every
		// second of its first election is a second of the zone's users
		// without payments.
		// It starts with a quick first election (setUpStore slows it
		// down to storeElection once the store serves).
		rc.HeartbeatTimeout = min(rc.HeartbeatTimeout, storeFirstElection)
		rc.ElectionTimeout = min(rc.ElectionTimeout, storeFirstElection)
		rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, storeFirstElection*2/3)
	}
	rep, err := zone.OpenReplica(rc, f)
	if err != nil {
		layer.Close()
		f.Close()
		return nil, err
	}
	h := &hosted{zone: zoneName, rep: rep, fsm: f, voter: voter, store: voter && zoneName != n.cfg.Zone}
	n.mu.Lock()
	n.zones[zoneName] = h
	if zoneName == n.cfg.Zone {
		n.own = h
	}
	n.mu.Unlock()
	return h, nil
}

func (n *Node) closeAll() {
	n.mu.Lock()
	zones := n.zones
	n.zones = map[string]*hosted{}
	n.own = nil
	n.mu.Unlock()
	names := make([]string, 0, len(zones))
	for z := range zones {
		names = append(names, z)
	}
	sort.Strings(names)
	for _, z := range names {
		h := zones[z]
		if err := h.rep.Shutdown(); err != nil {
			n.log.Warn("shutdown replica", "zone", z, "err", err)
		}
		h.fsm.Close()
	}
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
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.own
}

// hostedZone returns this node's replica of zone, or nil.
func (n *Node) hostedZone(z string) *hosted {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.zones[z]
}

func (n *Node) hostedZones() []*hosted {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*hosted, 0, len(n.zones))
	for _, h := range n.zones {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].zone < out[j].zone })
	return out
}

// leaseValid reports whether group h may accept writes now: always when
// standalone; in cluster mode while its ownership lease lasts by this
// node's clock.
func (n *Node) leaseValid(h *hosted) bool {
	return !n.clustered || h.lease.Valid()
}
