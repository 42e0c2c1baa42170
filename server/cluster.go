package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/internal/layout"
	"github.com/rzonedb/rzone/zone"
)

// monoNow is the monotonic clock leases are measured with (clock.Mono):
// a wall-clock jump cannot stretch a lease.
func monoNow() int64 { return clock.Mono() }

// openClusterGroups opens the meta replica and every zone replica found on
// disk (a restart, zone.ReplicaSet.OpenFound).
func (n *Node) openClusterGroups() error {
	layer, err := n.mux.Layer("meta")
	if err != nil {
		return err
	}
	n.metaFSM = fsm.NewMeta(n.log.With("group", "meta"))
	if n.meta, err = zone.OpenReplica(n.replicaConfig("meta", layout.GroupDir(n.cfg.DataDir, "meta"), layer), n.metaFSM); err != nil {
		layer.Close()
		return err
	}
	return n.zones.OpenFound()
}

// startCluster joins gossip and starts the loops that keep this node's
// replicas, leases and shard ownership in line with the meta group.
func (n *Node) startCluster() error {
	gc := gossip.DefaultConfig()
	if n.cfg.GossipFast {
		gc = gossip.Fast()
	}
	gc.BindAddr = n.cfg.GossipAddr
	gc.AdvertiseAddr = n.cfg.GossipAdvertise
	gc.Seeds = n.cfg.GossipSeeds
	gc.Key = n.cfg.GossipKey
	if len(gc.Key) == 0 && n.certs != nil {
		gc.Key = n.certs.GossipKey
	}
	// gossip adds the node's id itself; n.log has it already.
	gc.Logger = n.cfg.Logger.With("node_zone", n.cfg.Zone, "part", "gossip")
	gc.Meta = gossip.Meta{NodeID: n.cfg.NodeID, Zone: n.cfg.Zone, HTTPAddr: n.cfg.httpAdvertise(),
		RaftAddr: n.cfg.raftAdvertise(), Roles: n.cluster.Roles()}
	g, err := gossip.Start(gc)
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	n.gossip = g
	n.metrics.Reg.MustRegister(g.Collectors()...)
	n.startService("lease", n.leaseLoop)
	n.startService("converge", n.convergeLoop)
	n.startService("guard", n.guardLoop)
	n.startService("failover", n.failoverLoop)
	n.startService("shard-moves", n.opsLoop)
	n.startService("scheduler", func(<-chan struct{}) { n.sched.Run() }) // stops on n.stop
	return nil
}

// gossipHTTPAddr is a node's API address as gossip knows it.
func (n *Node) gossipHTTPAddr(id string) string {
	if n.gossip == nil {
		return ""
	}
	return n.gossip.HTTPAddr(id)
}

// handleInternalMeta applies a meta command forwarded by another node
// (cluster.Member.ApplyForwarded).
func (n *Node) handleInternalMeta(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "not a cluster node"))
		return
	}
	var c fsm.MetaCmd
	if err := decodeLarge(r, &c); err != nil {
		api.WriteError(w, err)
		return
	}
	res, err := n.cluster.ApplyForwarded(r.Context(), c)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}

// leaseLoop renews the ownership lease of every group this node leads and
// serves writes for (zone.LeaseKeeper.RenewAll).
func (n *Node) leaseLoop(stop <-chan struct{}) { n.every(stop, n.cfg.LeaseRenew, n.leases.RenewAll) }

// decodeLarge decodes an internal request body of up to 16 MiB, refusing
// unknown fields and trailing data as api.Decode does for smaller bodies.
func decodeLarge(r *http.Request, v any) *api.Error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return api.Errorf(api.CodeInvalidArgument, "read body: %v", err)
	}
	if err := api.DecodeBytes(data, v); err != nil {
		return err.(*api.Error)
	}
	return nil
}

// clusterHost is the node as its cluster membership sees it
// (cluster.Host).
type clusterHost struct{ n *Node }

var _ cluster.Host = clusterHost{}

func (c clusterHost) MetaReplica() *zone.Replica { return c.n.meta }

func (c clusterHost) MetaFSM() *fsm.Meta { return c.n.metaFSM }

func (c clusterHost) ZoneReplica(z string) *zone.Replica {
	if h := c.n.zones.Get(z); h != nil {
		return h.Replica()
	}
	return nil
}

func (c clusterHost) Zones() *zone.ReplicaSet { return c.n.zones }

func (c clusterHost) Apply(h *zone.Hosted, cmds ...fsm.Command) ([]fsm.Result, error) {
	return c.n.apply(h, cmds...)
}

func (c clusterHost) GossipHTTPAddr(id string) string { return c.n.gossipHTTPAddr(id) }

// BootstrapZone opens the own zone's replica if it has none and forms its
// group.
func (c clusterHost) BootstrapZone(voters []raft.Server) error {
	n := c.n
	n.openMu.Lock()
	defer n.openMu.Unlock()
	h := n.zones.Own()
	if h == nil {
		var err error
		if h, err = n.zones.Open(n.cfg.Zone, layout.GroupDir(n.cfg.DataDir, "zone/"+n.cfg.Zone), true); err != nil {
			return err
		}
	}
	if err := h.Replica().Bootstrap(voters); err != nil {
		return err
	}
	n.updateGossip()
	return nil
}

// newMember makes the node's cluster membership.
func (n *Node) newMember() *cluster.Member {
	return cluster.New(clusterHost{n}, cluster.Config{NodeID: n.cfg.NodeID, HTTPAddr: n.cfg.httpAdvertise(), RaftAddr: n.cfg.raftAdvertise(), Zone: n.cfg.Zone, ApplyTimeout: n.cfg.ApplyTimeout, Peer: n.peer,
		Clustered: n.clustered, LeaderWait: n.cfg.LeaderWait, ForwardTimeout: n.cfg.ApplyTimeout + n.cfg.LeaderWait, HeartbeatTimeout: n.cfg.HeartbeatTimeout, Stop: n.stop, APIError: cluster.APIError,
		Count: func(outcome string) { n.metrics.Forwarded.WithLabelValues(outcome).Inc() }, Logger: n.log})
}

// joinLoop (standalone) asks the member at Config.Join to add this node,
// until it succeeds or the node stops (cluster.Member.JoinLoop).
func (n *Node) joinLoop(stop <-chan struct{}) {
	n.cluster.JoinLoop(stop, n.stop, n.cfg.Join, api.JoinRequest{NodeID: n.cfg.NodeID, RaftAddr: n.cfg.raftAdvertise(), HTTPAddr: n.cfg.httpAdvertise()})
}

// opsLoop drives, on the meta leader, every unfinished shard move from the
// phase its record shows (zone.ShardMoveDriver).
func (n *Node) opsLoop(stop <-chan struct{}) {
	n.every(stop, n.cfg.FailoverTick, n.moves.Tick)
	n.moveTasks.Wait()
}

// testMoveHold, when set (tests), keeps a shard move's driver on node from
// starting phase while it returns true, as if it hung there; the driver
// stops when it loses the meta leadership or its node stops.
var testMoveHold atomic.Pointer[func(node, phase string) bool]

// holdMove waits while testMoveHold holds phase on this node.
func (n *Node) holdMove(ctx context.Context, phase string) error {
	for {
		hold := testMoveHold.Load()
		if hold == nil || !(*hold)(n.cfg.NodeID, phase) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
