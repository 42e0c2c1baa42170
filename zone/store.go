package zone

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/layout"
)

// Failover stores (docs/DESIGN.md, Failover): the node hosts, promotes,
// sets up and retires its failover stores as the meta state says. The meta
// leader's driver of failovers and reconciliations is FailoverDriver
// (failover.go, reconcile.go), whose Tick also runs the upkeep here at
// once when a store waits on it; the failover and merge endpoints are the
// server's (server/failover.go; a merge's checks: ReplicaSet.Merge,
// shardops.go).

// storeFirstElection and storeElection bound the heartbeat and election
// timeouts of failover store groups: at first (every moment until the
// store's first leader serves is a moment without payments for the zone's
// users), and once the store serves.
const (
	storeFirstElection = 150 * time.Millisecond
	storeElection      = 400 * time.Millisecond
)

// StoreMarker is a file in a failover store's group directory, so that a
// restarted node reopens the group as a voter.
const StoreMarker = "failover-store"

// TestHoldStoreSetUp, when set (tests), keeps a store's leader from
// setting the store up (CmdFailover) while it returns true for the store's
// group.
var TestHoldStoreSetUp atomic.Pointer[func(group string) bool]

// StoreWork reports whether a failover store of this node's zone is still
// to be opened or set up: then the failover loop does it at once rather
// than at the next reconcile round.
func (s *ReplicaSet) StoreWork(st fsm.MetaState) bool {
	for _, z := range st.Zones {
		if z.Backup != s.cfg.Zone || z.PhaseOf() != fsm.PhaseFailover || z.Failover == nil {
			continue
		}
		h := s.Get(z.Failover.Group)
		if h == nil || (h.Replica().IsLeader() && (!h.Ready() || !s.LeaseValid(h))) {
			return true
		}
	}
	return false
}

// ConvergeStores hosts, promotes, sets up and retires this node's failover
// stores as the meta state says (called from converge on every node).
func (s *ReplicaSet) ConvergeStores(st fsm.MetaState) error {
	s.storeMu.Lock()
	defer s.storeMu.Unlock()
	var errs []error
	for _, z := range st.Zones {
		if z.Backup != s.cfg.Zone || z.Failover == nil || z.Failover.Group == "" {
			continue
		}
		if p := z.PhaseOf(); p != fsm.PhaseFailover && p != fsm.PhaseReconciling {
			continue
		}
		h := s.Get(z.Failover.Group)
		if h == nil {
			var err error
			if h, err = s.hostStore(z); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if hold := TestHoldStoreSetUp.Load(); h.Replica().IsLeader() && (hold == nil || !(*hold)(h.Name())) {
			errs = append(errs, s.setUpStore(h, z, st))
		}
		errs = append(errs, s.settleStore(h))
	}
	for _, h := range s.List() {
		if _, live := st.StoreOf(h.Name()); h.Store() && !live {
			errs = append(errs, s.retireStore(h))
		}
	}
	return errors.Join(errs...)
}

// hostStore opens this node's member of z's failover store: on the seed,
// its async follower of z promoted into the new group; elsewhere an empty
// member that the store's leader adds as a voter.
func (s *ReplicaSet) hostStore(z fsm.ZoneInfo) (*Hosted, error) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	group := z.Failover.Group
	if h := s.Get(group); h != nil {
		return h, nil
	}
	dir := layout.GroupDir(s.cfg.DataDir, "zone/"+group)
	if _, err := os.Stat(filepath.Join(dir, StoreMarker)); err != nil {
		// The group's directory is made whole in a staging directory and
		// renamed into place, so a crash never leaves a half-made store
		// that a restart would open.
		staging := layout.GroupDir(s.cfg.DataDir, "staging/"+group)
		if err := os.RemoveAll(staging); err != nil {
			return nil, err
		}
		if z.Failover.Seed == s.cfg.NodeID {
			if err := s.promoteFollower(z.Name, group, staging); err != nil {
				return nil, err
			}
		} else if err := os.MkdirAll(staging, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(staging, StoreMarker), []byte(z.Name+"\n"), 0o600); err != nil {
			return nil, err
		}
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if err := os.Rename(staging, dir); err != nil {
			return nil, err
		}
	}
	h, err := s.Open(group, dir, true)
	if err != nil {
		return nil, err
	}
	s.log.Warn("hosting a failover store", "zone", z.Name, "store", group, "seed", z.Failover.Seed == s.cfg.NodeID)
	s.host.RolesChanged()
	return h, nil
}

// promoteFollower stops this node's async follower of z, promotes a copy of
// it into group's directory as the group's sole voter, and reopens the
// follower (it goes on following z when z returns).
func (s *ReplicaSet) promoteFollower(z, group, dir string) error {
	f := s.Get(z)
	if f == nil || f.Voter() {
		return fmt.Errorf("promote %s: this node hosts no async follower of it", z)
	}
	src := layout.GroupDir(s.cfg.DataDir, "zone/"+z)
	s.Close(f)
	var sm *fsm.FSM
	err := Promote(s.host.ReplicaConfig("zone/"+group, dir, nil), src, []raft.Server{s.raftServer()},
		func(path string) (StateMachine, io.Closer, error) {
			var err error
			sm, err = fsm.OpenWith(path, s.log.With("group", "zone/"+group), s.cfg.commitPolicy())
			return sm, sm, err
		},
		// Marked after the recovery has replayed the copied log (as the
		// zone, owning its shards) and before its snapshot, which every
		// member of the store starts from: until its CmdFailover, no
		// member serves a shard.
		func() error { return sm.MarkPromoted() })
	if _, oerr := s.Open(z, src, false); oerr != nil {
		err = errors.Join(err, oerr)
	}
	if err != nil {
		return fmt.Errorf("promote %s into %s: %w", z, group, err)
	}
	return nil
}

// setUpStore, on a store's leader, makes it a failover store (blacklist,
// stand-in limit), adds the backup zone's other nodes as voters, and takes
// the shards the route table gives it.
func (s *ReplicaSet) setUpStore(h *Hosted, z fsm.ZoneInfo, st fsm.MetaState) error {
	fi, err := h.FSM().Failover()
	if err != nil {
		return err
	}
	if fi == nil {
		var marks []fsm.Mark
		for _, u := range z.Failover.Blacklist {
			marks = append(marks, fsm.Mark{User: u})
		}
		pct := int64(fsm.DefaultStandinPercent)
		if it, ok := st.ConfigValue(ConfigStandinPercent); ok {
			if v, err := strconv.ParseInt(it.Value, 10, 64); err == nil && v >= 0 && v <= 100 {
				pct = v
			}
		}
		if _, err := s.host.Apply(h, fsm.Command{Type: fsm.CmdFailover, NodeID: z.Name, Epoch: st.Epoch, Amount: pct, Marks: marks}); err != nil {
			return fmt.Errorf("set up failover store %s: %w", h.Name(), err)
		}
	}
	var errs []error
	if members, err := h.Replica().Members(); err == nil {
		for _, nd := range st.Nodes {
			if nd.Zone == z.Backup && !HasServer(members, nd.ID) {
				errs = append(errs, h.Replica().AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), true, s.cfg.ApplyTimeout))
			}
		}
	}
	errs = append(errs, s.SyncShards(h, st))
	if z.PhaseOf() == fsm.PhaseFailover && !s.LeaseValid(h) {
		s.host.RenewLease(h) // serve at once, not at the next renewal round
	}
	return errors.Join(errs...)
}

// settleStore slows a store member's election timeouts down from the
// quick first election once the store has a leader that serves.
func (s *ReplicaSet) settleStore(h *Hosted) error {
	rf := h.Replica().Raft()
	rc := rf.ReloadableConfig()
	if rc.HeartbeatTimeout >= storeElection || rc.HeartbeatTimeout >= s.cfg.HeartbeatTimeout {
		return nil
	}
	if _, id := rf.LeaderWithID(); id == "" || (rf.State() == raft.Leader && !s.LeaseValid(h)) {
		return nil
	}
	rc.HeartbeatTimeout = min(s.cfg.HeartbeatTimeout, storeElection)
	rc.ElectionTimeout = min(s.cfg.ElectionTimeout, storeElection)
	return rf.ReloadConfig(rc)
}

// retireStore closes a failover store whose zone has been reconciled and
// removes its files.
func (s *ReplicaSet) retireStore(h *Hosted) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.Close(h)
	s.log.Info("failover store retired", "store", h.Name())
	s.host.RolesChanged()
	return os.RemoveAll(layout.GroupDir(s.cfg.DataDir, "zone/"+h.Name()))
}
