package server

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/internal/layout"
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
// async follower of a zone.
var testHoldFollower atomic.Pointer[func(node, zone string) bool]

func (n *Node) converge() error {
	st := n.metaFSM.State()
	if !st.Initialized {
		return nil
	}
	n.updateGossip() // roles change with the meta state (meta voter) and hosted replicas
	my := n.cfg.Zone
	var errs []error
	// Follower replicas of the zones this zone backs up.
	for _, z := range st.Zones {
		if hold := testHoldFollower.Load(); hold != nil && (*hold)(n.cfg.NodeID, z.Name) {
			continue
		}
		if z.Backup == my && z.Name != my && n.hostedZone(z.Name) == nil {
			n.openMu.Lock()
			if n.hostedZone(z.Name) == nil {
				if _, err := n.openZone(z.Name, layout.GroupDir(n.cfg.DataDir, "zone/"+z.Name), false); err != nil {
					errs = append(errs, err)
				} else {
					n.log.Info("hosting an async follower", "zone", z.Name)
					n.updateGossip()
				}
			}
			n.openMu.Unlock()
		}
	}
	// The meta leader adds every other node as a non-voter.
	if n.meta.IsLeader() {
		if members, err := n.meta.Members(); err == nil {
			for _, nd := range st.Nodes {
				if !nd.MetaVoter && !hasServer(members, nd.ID) {
					errs = append(errs, n.meta.AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), false, n.cfg.ApplyTimeout))
				}
			}
		}
	}
	errs = append(errs, n.convergeStores(st))
	errs = append(errs, n.convergeLifecycle(st))
	h := n.ownZone()
	if h == nil || !h.rep.IsLeader() {
		return errors.Join(errs...)
	}
	// The zone leader adds the backup zone's nodes as async followers.
	if zi, ok := st.ZoneOf(my); ok && zi.Backup != "" && zi.Backup != my {
		if members, err := h.rep.Members(); err == nil {
			for _, nd := range st.Nodes {
				if nd.Zone == zi.Backup && !hasServer(members, nd.ID) {
					errs = append(errs, h.rep.AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), false, n.cfg.ApplyTimeout))
				}
			}
		}
	}
	errs = append(errs, n.syncShards(h, st))
	return errors.Join(errs...)
}

func hasServer(servers []raft.Server, id string) bool {
	return slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id })
}

// syncShards makes the zone's state machine own exactly the shards the
// route table gives it: it releases a shard that moves away (at the move's
// epoch) and takes one routed to it.
func (n *Node) syncShards(h *hosted, st fsm.MetaState) error {
	me := h.zone
	owned, sharded, err := h.fsm.Shards()
	if err != nil {
		return err
	}
	take := map[uint64][]byte{}
	release := map[uint64][]byte{}
	for s, r := range st.Shards {
		mine := r.Zone == me && r.Target == ""
		e, have := owned[s]
		switch {
		case mine && (!have || e < r.Epoch):
			take[r.Epoch] = append(take[r.Epoch], byte(s))
		case !mine && have && e <= r.Epoch:
			release[r.Epoch] = append(release[r.Epoch], byte(s))
		}
	}
	var cmds []fsm.Command
	for _, set := range []struct {
		m   map[uint64][]byte
		own bool
	}{{release, false}, {take, true}} {
		epochs := make([]uint64, 0, len(set.m))
		for e := range set.m {
			epochs = append(epochs, e)
		}
		sort.Slice(epochs, func(i, j int) bool { return epochs[i] < epochs[j] })
		for _, e := range epochs {
			cmds = append(cmds, fsm.Command{Type: fsm.CmdSetShards, Shards: set.m[e], Epoch: e, Own: set.own})
		}
	}
	if len(cmds) == 0 && !sharded {
		cmds = append(cmds, fsm.Command{Type: fsm.CmdSetShards, Epoch: st.Epoch, Own: true})
	}
	if len(cmds) > 0 {
		if _, err := n.apply(h, cmds...); err != nil {
			return fmt.Errorf("sync shards: %w", err)
		}
		n.log.Info("shard ownership synced with the route table", "epoch", st.Epoch, "commands", len(cmds))
	}
	h.ready.Store(true)
	return nil
}

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
