package server

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// zoneHost is the node as the zone's drivers see it (zone.Host,
// zone.FailoverHost, zone.ShardMoveHost): the guard keeper, the lease
// keeper, the failover driver and the shard move driver run in zone/ and
// reach the node only through it. tasks holds the goroutines the driver
// starts (Go); nil: the node's tasks.
type zoneHost struct {
	n     *Node
	tasks *sync.WaitGroup
}

var _ zone.Host = zoneHost{}

func (z zoneHost) Clustered() bool { return z.n.clustered }

func (z zoneHost) Meta() *fsm.Meta { return z.n.metaFSM }

func (z zoneHost) MetaApply(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	return z.n.cluster.Apply(ctx, c)
}

func (z zoneHost) OwnZone() zone.Group {
	if h := z.n.zones.Own(); h != nil {
		return h
	}
	return nil // not a nil *zone.Hosted in a non-nil interface
}

func (z zoneHost) Groups() []zone.Group {
	hs := z.n.zones.List()
	out := make([]zone.Group, len(hs))
	for i, h := range hs {
		out[i] = h
	}
	return out
}

func (z zoneHost) RetryZone(ctx context.Context, name string, fn func(addr string) error) error {
	return z.n.cluster.RetryZone(ctx, name, fn)
}

func (z zoneHost) PostJSON(ctx context.Context, addr, path string, in, out any) error {
	return z.n.peer.PostJSON(ctx, addr, path, in, out)
}

func (z zoneHost) AskReplicas(ctx context.Context, nodes []fsm.NodeInfo) map[string][]api.ReplicaState {
	return z.n.status.Ask(ctx, nodes)
}

var _ zone.FailoverHost = zoneHost{}

func (z zoneHost) MetaLeader() bool { return z.n.meta.IsLeader() }

func (z zoneHost) MetaApplyIdempotent(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	return z.n.cluster.ApplyIdempotent(ctx, c)
}

func (z zoneHost) NoteOp(ctx context.Context, id, phase string, progress int, detail string, err error) {
	z.n.cluster.NoteOp(ctx, id, phase, progress, detail, err)
}

func (z zoneHost) NewOpID() string { return cluster.NewOpID() }

func (z zoneHost) GetJSON(ctx context.Context, addr, path string, out any) error {
	return z.n.peer.GetJSON(ctx, addr, path, out)
}

func (z zoneHost) Answers(ctx context.Context, addr string) bool { return z.n.peer.Answers(ctx, addr) }

// Go runs fn in a goroutine that the service which started it (or, for a
// host without tasks, Shutdown) waits for.
func (z zoneHost) Go(fn func()) {
	wg := z.tasks
	if wg == nil {
		wg = &z.n.tasks
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn()
	}()
}

func (z zoneHost) Stopping() <-chan struct{} { return z.n.stop }

var _ zone.ShardMoveHost = zoneHost{}

var _ zone.ReplicaHost = zoneHost{}

func (z zoneHost) Layer(group string) (raft.StreamLayer, error) { return z.n.mux.Layer(group) }

func (z zoneHost) ReplicaConfig(group, dir string, stream raft.StreamLayer) zone.ReplicaConfig {
	return z.n.replicaConfig(group, dir, stream)
}

func (z zoneHost) CommitObserver(group string) func(fsm.CommitStats) {
	m := z.n.metrics
	took, spill, write, pages := m.StateCommit.WithLabelValues(group), m.StateCommitSpill.WithLabelValues(group),
		m.StateCommitWrite.WithLabelValues(group), m.StateCommitPages.WithLabelValues(group)
	return func(s fsm.CommitStats) {
		took.Observe(s.Took.Seconds())
		spill.Observe(s.Spill.Seconds())
		write.Observe(s.Write.Seconds())
		pages.Observe(float64(s.Pages))
	}
}

func (z zoneHost) Apply(h *zone.Hosted, cmds ...fsm.Command) ([]fsm.Result, error) {
	return z.n.apply(h, cmds...)
}

func (z zoneHost) Accepted(h *zone.Hosted, cmds []fsm.Command, res []fsm.Result) {
	z.n.metrics.stores.NotePayments(h, z.n.metaFSM, z.n.log, cmds, res)
}

func (z zoneHost) RenewLease(h zone.Group) { z.n.leases.Renew(h) }

func (z zoneHost) RolesChanged() { z.n.updateGossip() }

var _ zone.HandoffHost = zoneHost{}

func (z zoneHost) LedGroups() []zone.LedGroup { return z.n.zones.LedWith(z.n.meta) }

func (z zoneHost) MetaState() fsm.MetaState {
	if z.n.metaFSM == nil {
		return fsm.MetaState{}
	}
	return z.n.metaFSM.State()
}

func (z zoneHost) Alive() (map[string]bool, bool) {
	if z.n.gossip == nil {
		return nil, false
	}
	return z.n.gossip.AliveByID(), true
}

// startDrivers makes the node's zone drivers (before its replicas open:
// every write goes through the guard keeper).
func (n *Node) startDrivers() {
	host := zoneHost{n: n}
	cfg := zone.DriverConfig{NodeID: n.cfg.NodeID, ApplyTimeout: n.cfg.ApplyTimeout, LeaseDuration: n.cfg.LeaseDuration, Logger: n.log}
	n.guards = zone.NewGuardKeeper(host, cfg, zone.GuardMetrics{Marks: n.metrics.GuardMarks, Clears: n.metrics.GuardClears,
		Live: n.metrics.GuardLive, MarkSeconds: n.metrics.GuardMarkSeconds})
	n.leases = zone.NewLeaseKeeper(host, cfg, n.metrics.LeaseRenewals)
	n.failover = zone.NewFailoverDriver(zoneHost{n, &n.failoverTasks}, cfg, n.leases, zone.FailoverMetrics{Phase: n.metrics.FailoverPhase,
		ReconcileSeconds: n.metrics.ReconcileSeconds})
	n.moves = zone.NewShardMoveDriver(zoneHost{n, &n.moveTasks}, cfg, n.holdMove)
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
		LogStore: zone.LogStoreKind(c.RaftLogStore),
	}
}

// newReplicaSet makes the node's (empty) replica set.
func (n *Node) newReplicaSet() *zone.ReplicaSet {
	c := &n.cfg
	return zone.NewReplicaSet(zoneHost{n: n}, zone.SetConfig{Clustered: n.clustered, NodeID: c.NodeID, Zone: c.Zone,
		DataDir: c.DataDir, RaftAddr: c.raftAdvertise(), ApplyTimeout: c.ApplyTimeout, ReadyWait: c.LeaderWait,
		HeartbeatTimeout: c.HeartbeatTimeout, ElectionTimeout: c.ElectionTimeout, Logger: n.log,
		Commit: fsm.CommitPolicy{Entries: fsm.DefaultCommitPolicy.Entries, Interval: c.StateCommitInterval}})
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
