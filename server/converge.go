package server

import (
	"time"

	"github.com/rzonedb/rzone/zone"
)

// convergeLoop converges this node's replicas on the meta group's state
// every 250ms (zone.Converger.Round): follower replicas of the zones its
// zone backs up, non-voter members of the meta group and of its zone's
// followers (on the leaders), the failover stores, the node lifecycle,
// and the zone's shard ownership (on the zone leader).
func (n *Node) convergeLoop(stop <-chan struct{}) {
	c := &zone.Converger{Set: n.zones, Meta: n.meta, Handoff: n.handoff, Host: zoneHost{n: n},
		Timeout: n.cfg.ApplyTimeout, Log: n.log}
	if n.gossip != nil {
		c.Alive = n.gossip.Alive
	}
	n.every(stop, 250*time.Millisecond, func() {
		if err := c.Round(); err != nil {
			n.log.Debug("converge replicas", "err", err)
		}
	})
}

// updateGossip re-broadcasts this node's gossip meta when its roles changed
// (gossip.Gossip.SetRoles).
func (n *Node) updateGossip() {
	if n.gossip == nil {
		return
	}
	if err := n.gossip.SetRoles(n.cluster.Roles()); err != nil {
		n.log.Debug("gossip meta", "err", err)
	}
}
