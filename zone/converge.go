package zone

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/layout"
)

// Converging the node's zone replicas on the meta group's state (the
// node's converge loop calls these in turn, with the meta group's and the
// node lifecycle's parts): the async followers of the zones its zone backs
// up, the failover stores (store.go), and on the own zone's leader its
// backup zone's followers and its shard ownership.

// TestHoldFollower, when set (tests), keeps a node from (re)opening its
// async follower of a zone.
var TestHoldFollower atomic.Pointer[func(node, zone string) bool]

// ConvergeFollowers opens the async followers of the zones this node's
// zone backs up that it does not host yet.
func (s *ReplicaSet) ConvergeFollowers(st fsm.MetaState) error {
	my := s.cfg.Zone
	var errs []error
	for _, z := range st.Zones {
		if hold := TestHoldFollower.Load(); hold != nil && (*hold)(s.cfg.NodeID, z.Name) {
			continue
		}
		if z.Backup == my && z.Name != my && s.Get(z.Name) == nil {
			s.openMu.Lock()
			if s.Get(z.Name) == nil {
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
