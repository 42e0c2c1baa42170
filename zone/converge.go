package zone

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/internal/layout"
)

// Converging the node's replicas on the meta group's state (a
// Converger's round calls these in turn, with the meta group's and the
// node lifecycle's parts): the async followers of the zones its zone backs
// up, the failover stores (store.go), and on the own zone's leader its
// backup zone's followers and its shard ownership.

// Converger runs a node's converge rounds (Round). Its fields are set
// before the first round.
type Converger struct {
	Set     *ReplicaSet
	Meta    *Replica // the node's member of the meta group
	Handoff *Handoff
	// Host is the node (AdmitJoiners asks the joiners' zones through it).
	Host Host
	// Alive lists the nodes gossip shows alive; nil: the node runs no
	// gossip.
	Alive   func() []gossip.Meta
	Timeout time.Duration // bounds each configuration change
	Log     *slog.Logger
	removed sync.Once // logs once that this node was removed
}

// Round converges the node's replicas on the meta group's state: the
// async followers (ReplicaSet.ConvergeFollowers), the meta group's
// non-voters (on its leader), the failover stores, the node lifecycle
// (lifecycle), and on the own zone's leader its followers and shard
// ownership (ConvergeOwn).
func (c *Converger) Round() error {
	st := c.Host.Meta().State()
	if !st.Initialized {
		return nil
	}
	c.Set.host.RolesChanged() // roles change with the meta state (meta voter) and hosted replicas
	var errs []error
	errs = append(errs, c.Set.ConvergeFollowers(st))
	// The meta leader adds every other node as a non-voter.
	if c.Meta.IsLeader() {
		errs = append(errs, AddMetaNonVoters(c.Meta, st, c.Timeout))
	}
	errs = append(errs, c.Set.ConvergeStores(st))
	errs = append(errs, c.lifecycle(st))
	errs = append(errs, c.Set.ConvergeOwn(st))
	return errors.Join(errs...)
}

// lifecycle is the node-lifecycle part of a round: joins, the removed
// nodes' departure from every group, the meta voters' refill, and a
// drained or removed node handing off what it leads.
func (c *Converger) lifecycle(st fsm.MetaState) error {
	var errs []error
	c.Handoff.Converge(st)
	if st.Removed(c.Set.cfg.NodeID) {
		c.removed.Do(func() {
			c.Log.Warn("this node was removed from the cluster: it leaves every group and may be stopped; a replacement joins under a new id")
		})
		return nil
	}
	errs = append(errs, c.Set.ConvergeJoined(st))
	if c.Meta.IsLeader() {
		errs = append(errs, ConvergeMetaMembers(c.Meta, st, c.Timeout, c.Log))
		if c.Alive != nil {
			errs = append(errs, AdmitJoiners(c.Host, c.Alive(), st, c.Timeout, c.Log))
		}
	}
	errs = append(errs, c.Set.ConvergeVoters(st))
	return errors.Join(errs...)
}

// TestHoldFollower, when set (tests), keeps a node from (re)opening its
// async follower of a zone.
var TestHoldFollower atomic.Pointer[func(node, zone string) bool]

// held reports whether TestHoldFollower keeps this node's follower of zone z closed.
func (s *ReplicaSet) held(z string) bool {
	hold := TestHoldFollower.Load()
	return hold != nil && (*hold)(s.cfg.NodeID, z)
}

// ConvergeFollowers opens the async followers of the zones this node's
// zone backs up that it does not host yet.
func (s *ReplicaSet) ConvergeFollowers(st fsm.MetaState) error {
	my := s.cfg.Zone
	var errs []error
	for _, z := range st.Zones {
		if s.held(z.Name) {
			continue
		}
		if z.Backup == my && z.Name != my && s.Get(z.Name) == nil {
			s.openMu.Lock()
			// Again under the lock: a hold set meanwhile (its holder
			// closes the follower under this lock) keeps it closed.
			if !s.held(z.Name) && s.Get(z.Name) == nil {
				if _, err := s.Open(z.Name, layout.GroupDir(s.cfg.DataDir, "zone/"+z.Name), false); err != nil {
					errs = append(errs, err)
				} else {
					s.log.Info("hosting an async follower", "zone", z.Name)
					s.host.RolesChanged()
				}
			}
			s.openMu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// ConvergeOwn, on the own zone's leader, adds the backup zone's nodes as
// async followers and syncs the zone's shard ownership with the route
// table.
func (s *ReplicaSet) ConvergeOwn(st fsm.MetaState) error {
	h := s.Own()
	if h == nil || !h.Replica().IsLeader() {
		return nil
	}
	my := s.cfg.Zone
	var errs []error
	// The zone leader adds the backup zone's nodes as async followers.
	if zi, ok := st.ZoneOf(my); ok && zi.Backup != "" && zi.Backup != my {
		if members, err := h.Replica().Members(); err == nil {
			for _, nd := range st.Nodes {
				if nd.Zone == zi.Backup && !HasServer(members, nd.ID) {
					errs = append(errs, h.Replica().AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), false, s.cfg.ApplyTimeout))
				}
			}
		}
	}
	errs = append(errs, s.SyncShards(h, st))
	return errors.Join(errs...)
}

// HasServer reports whether servers holds node id.
func HasServer(servers []raft.Server, id string) bool {
	return slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id })
}

// SyncShards makes the zone's state machine own exactly the shards the
// route table gives it: it releases a shard that moves away (at the move's
// epoch) and takes one routed to it.
func (s *ReplicaSet) SyncShards(h *Hosted, st fsm.MetaState) error {
	me := h.Name()
	owned, sharded, err := h.FSM().Shards()
	if err != nil {
		return err
	}
	take := map[uint64][]byte{}
	release := map[uint64][]byte{}
	for i, r := range st.Shards {
		mine := r.Zone == me && r.Target == ""
		e, have := owned[i]
		switch {
		case mine && (!have || e < r.Epoch):
			take[r.Epoch] = append(take[r.Epoch], byte(i))
		case !mine && have && e <= r.Epoch:
			release[r.Epoch] = append(release[r.Epoch], byte(i))
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
		if _, err := s.host.Apply(h, cmds...); err != nil {
			return fmt.Errorf("sync shards: %w", err)
		}
		s.log.Info("shard ownership synced with the route table", "epoch", st.Epoch, "commands", len(cmds))
	}
	h.SetReady()
	return nil
}
