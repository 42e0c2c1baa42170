package server

import (
	"errors"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/zone"
)

// convergeLoop converges this node's replicas on the meta group's state:
// follower replicas of the zones its zone backs up, non-voter members of
// the meta group and of its zone's followers (on the leaders), and the
// zone's shard ownership (on the zone leader).
func (n *Node) convergeLoop(stop <-chan struct{}) {
	n.every(stop, 250*time.Millisecond, n.convergeOnce)
}

func (n *Node) convergeOnce() {
	if err := n.converge(); err != nil {
		n.log.Debug("converge replicas", "err", err)
	}
}

// testHoldFollower, when set (tests), keeps a node from (re)opening its
// async follower of a zone (zone.TestHoldFollower).
var testHoldFollower = &zone.TestHoldFollower

// converge runs one round: the async followers (zone.ReplicaSet), the meta
// group's non-voters, the failover stores, the node lifecycle, and on the
// own zone's leader its followers and shard ownership.
func (n *Node) converge() error {
	st := n.metaFSM.State()
	if !st.Initialized {
		return nil
	}
	n.updateGossip() // roles change with the meta state (meta voter) and hosted replicas
	var errs []error
	errs = append(errs, n.zones.ConvergeFollowers(st))
	// The meta leader adds every other node as a non-voter.
	if n.meta.IsLeader() {
		errs = append(errs, zone.AddMetaNonVoters(n.meta, st, n.cfg.ApplyTimeout))
	}
	errs = append(errs, n.zones.ConvergeStores(st))
	errs = append(errs, n.convergeLifecycle(st))
	errs = append(errs, n.zones.ConvergeOwn(st))
	return errors.Join(errs...)
}

func hasServer(servers []raft.Server, id string) bool { return zone.HasServer(servers, id) }

// updateGossip re-broadcasts this node's gossip meta when its roles changed.
func (n *Node) updateGossip() {
	if n.gossip == nil {
		return
	}
	roles := n.roles()
	if slices.Equal(roles, n.gossip.LocalMeta().Roles) {
		return
	}
	m := gossip.Meta{NodeID: n.cfg.NodeID, Zone: n.cfg.Zone, HTTPAddr: n.cfg.httpAdvertise(), RaftAddr: n.cfg.raftAdvertise(), Roles: roles}
	if err := n.gossip.UpdateMeta(m); err != nil {
		n.log.Debug("gossip meta", "err", err)
	}
}
