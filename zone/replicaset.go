package zone

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// SetConfig is what the replica set takes of the node's configuration.
type SetConfig struct {
	// Clustered: the node runs in cluster mode (a group may write only
	// while its ownership lease lasts).
	Clustered bool
	// NodeID, Zone and DataDir are the node's id, zone and data folder;
	// RaftAddr is its advertised raft address.
	NodeID, Zone, DataDir, RaftAddr string
	// ApplyTimeout bounds a configuration change.
	ApplyTimeout time.Duration
	// ReadyWait is how long a gated write waits for its group's shard
	// ownership to be set up (ApplyGated); the node's LeaderWait.
	ReadyWait time.Duration
	// HeartbeatTimeout and ElectionTimeout are the node's Raft timeouts
	// (a failover store's are lower at first, store.go).
	HeartbeatTimeout, ElectionTimeout time.Duration
	// Logger is the node's logger.
	Logger *slog.Logger
	// Commit is when the zone replicas commit their state files; zero
	// means fsm.DefaultCommitPolicy.
	Commit fsm.CommitPolicy
}

func (c SetConfig) commitPolicy() fsm.CommitPolicy {
	if c.Commit.Entries == 0 && c.Commit.Interval == 0 {
		return fsm.DefaultCommitPolicy
	}
	return c.Commit
}

// ReplicaSet is the zone replicas a node hosts: the voter replica of its
// own zone, the async followers of the zones its zone backs up
// (converge.go) and the failover stores it hosts (store.go), by zone
// name. Its methods are safe for concurrent use; Own, Get and List of a
// nil set (a node not started) find nothing.
type ReplicaSet struct {
	cfg  SetConfig
	host ReplicaHost
	log  *slog.Logger

	mu    sync.RWMutex
	own   *Hosted            // the node's voter replica of its zone; nil until bootstrapped
	zones map[string]*Hosted // every hosted zone replica, own included, by zone name
	// openMu serializes opening zone replicas (init and converge race).
	openMu sync.Mutex
	// storeMu serializes the upkeep of failover stores.
	storeMu sync.Mutex
}

// NewReplicaSet makes the (empty) replica set of host.
func NewReplicaSet(host ReplicaHost, cfg SetConfig) *ReplicaSet {
	return &ReplicaSet{cfg: cfg, host: host, log: cfg.Logger, zones: map[string]*Hosted{}}
}

// OpenLock is the lock that serializes opening zone replicas: whoever
// opens one holds it, and checks under it that no other did first.
func (s *ReplicaSet) OpenLock() *sync.Mutex { return &s.openMu }

// Open opens this node's replica of zone's group in dir and registers it.
// voter marks the node's own zone (or a failover store it hosts).
func (s *ReplicaSet) Open(zoneName, dir string, voter bool) (*Hosted, error) {
	group := "zone/" + zoneName
	layer, err := s.host.Layer(group)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		layer.Close()
		return nil, err
	}
	f, err := fsm.OpenWith(filepath.Join(dir, "state.db"), s.log.With("group", group), s.cfg.commitPolicy())
	if err != nil {
		layer.Close()
		return nil, err
	}
	f.ObserveCommits(s.host.CommitObserver(group))
	rc := s.host.ReplicaConfig(group, dir, layer)
	rc.SelfRestoring = true
	if voter && zoneName != s.cfg.Zone {
		// A failover store: its nodes sit in one zone, and every
		// second of its first election is a second of the zone's users
		// without payments.
		// It starts with a quick first election (setUpStore slows it
		// down to storeElection once the store serves).
		rc.HeartbeatTimeout = min(rc.HeartbeatTimeout, storeFirstElection)
		rc.ElectionTimeout = min(rc.ElectionTimeout, storeFirstElection)
		rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, storeFirstElection*2/3)
	}
	rep, err := OpenReplica(rc, f)
	if err != nil {
		layer.Close()
		f.Close()
		return nil, err
	}
	h := NewHosted(zoneName, rep, f, voter, voter && zoneName != s.cfg.Zone)
	s.Add(h)
	return h, nil
}

// OpenStandalone opens a standalone node's one zone replica, whose files
// sit directly in the data folder, set up at once (a standalone zone owns
// every shard). With bootstrap, a replica without Raft state forms a new
// group with this node its one voter. hadState reports whether the
// replica had Raft state when it opened.
func (s *ReplicaSet) OpenStandalone(bootstrap bool) (hadState bool, err error) {
	h, err := s.Open(s.cfg.Zone, s.cfg.DataDir, true)
	if err != nil {
		return false, err
	}
	h.SetReady()
	if hadState = h.Replica().HasState(); bootstrap && !hadState {
		if err := h.Replica().Bootstrap([]raft.Server{{ID: raft.ServerID(s.cfg.NodeID), Address: h.Replica().Addr()}}); err != nil {
			return false, err
		}
		s.log.Info("bootstrapped a new group")
	}
	return hadState, nil
}

// OpenFound opens every zone replica found in the node's data folder (a
// restart): the own zone's and the failover stores' (StoreMarker in their
// folder) as voters, the others as async followers.
func (s *ReplicaSet) OpenFound() error {
	entries, err := os.ReadDir(filepath.Join(s.cfg.DataDir, "groups"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, e := range entries {
		z, ok := strings.CutPrefix(e.Name(), "zone-")
		if !ok || !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.cfg.DataDir, "groups", e.Name())
		_, serr := os.Stat(filepath.Join(dir, StoreMarker))
		if _, err := s.Open(z, dir, z == s.cfg.Zone || serr == nil); err != nil {
			return err
		}
	}
	return nil
}

// Add registers an open replica h (Open does; tests add their own).
func (s *ReplicaSet) Add(h *Hosted) {
	s.mu.Lock()
	s.zones[h.Name()] = h
	if h.Name() == s.cfg.Zone {
		s.own = h
	}
	s.mu.Unlock()
}

// Close stops and forgets a hosted replica.
func (s *ReplicaSet) Close(h *Hosted) {
	s.mu.Lock()
	if s.zones[h.Name()] == h {
		delete(s.zones, h.Name())
	}
	s.mu.Unlock()
	if err := h.Replica().Shutdown(); err != nil {
		s.log.Warn("shutdown replica", "group", h.Name(), "err", err)
	}
	h.FSM().Close()
}

// CloseAll stops and forgets every hosted replica, in name order.
func (s *ReplicaSet) CloseAll() {
	s.mu.Lock()
	zones := s.zones
	s.zones = map[string]*Hosted{}
	s.own = nil
	s.mu.Unlock()
	names := make([]string, 0, len(zones))
	for z := range zones {
		names = append(names, z)
	}
	sort.Strings(names)
	for _, z := range names {
		h := zones[z]
		if err := h.Replica().Shutdown(); err != nil {
			s.log.Warn("shutdown replica", "zone", z, "err", err)
		}
		h.FSM().Close()
	}
}

// Own returns the node's own zone replica, or nil before it exists.
func (s *ReplicaSet) Own() *Hosted {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.own
}

// Get returns this node's replica of zone z, or nil.
func (s *ReplicaSet) Get(z string) *Hosted {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.zones[z]
}

// List returns every hosted replica, in name order.
func (s *ReplicaSet) List() []*Hosted {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Hosted, 0, len(s.zones))
	for _, h := range s.zones {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// LeaseValid reports whether group h may accept writes now: always when
// standalone; in cluster mode while its ownership lease lasts by this
// node's clock.
func (s *ReplicaSet) LeaseValid(h Group) bool {
	return !s.cfg.Clustered || h.Lease().Valid()
}

// Roles lists the replicas this node hosts, for gossip, in name order:
// "voter:zone-Z" for a group it votes in, "follower:zone-Z" for an async
// follower.
func (s *ReplicaSet) Roles() []string {
	var roles []string
	for _, h := range s.List() {
		if h.Voter() {
			roles = append(roles, "voter:zone-"+h.Name())
		} else {
			roles = append(roles, "follower:zone-"+h.Name())
		}
	}
	return roles
}

// Lead returns this node's replica of group (a failover store it hosts;
// "": its own zone) if this node leads it, holds its lease, and has caught
// up (a linearizable read barrier, bounded by timeout). The refusals are
// *api.Error (unavailable, lease expired); a failed barrier is the
// replica's error.
func (s *ReplicaSet) Lead(ctx context.Context, group string, timeout time.Duration) (*Hosted, error) {
	h := s.Own()
	if group != "" {
		h = s.Get(group)
	}
	if h == nil || !h.Voter() || !h.Replica().IsLeader() || !h.Ready() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s does not lead group %q; retry", s.cfg.NodeID, group)
	}
	if !s.LeaseValid(h) {
		return nil, api.Errorf(api.CodeLeaseExpired, "zone %s holds no ownership lease; retry", h.Name())
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := h.Replica().Linearizable(ctx, timeout); err != nil {
		return nil, err
	}
	return h, nil
}

// Serves reports, on g's leader, whether it serves g's shards now: this
// node leads g with its shards set up, holds its lease, and passes the
// read protocol.
func (s *ReplicaSet) Serves(ctx context.Context, g string) error {
	h := s.Get(g)
	switch {
	case h == nil || !h.Voter() || !h.Replica().IsLeader():
		return fmt.Errorf("%w: node %s does not lead %s", ErrNotLeader, s.cfg.NodeID, g)
	case !h.Ready():
		return api.Errorf(api.CodeUnavailable, "%s is still taking over its shards", g)
	case !s.LeaseValid(h):
		return api.Errorf(api.CodeLeaseExpired, "%s holds no ownership lease", g)
	}
	return h.Replica().Linearizable(ctx, time.Second)
}

// raftServer is this node as a voter of a group.
func (s *ReplicaSet) raftServer() raft.Server {
	return raft.Server{ID: raft.ServerID(s.cfg.NodeID), Address: raft.ServerAddress(s.cfg.RaftAddr), Suffrage: raft.Voter}
}
