package zone

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// StateMachine is what a Replica drives: a batching FSM that can say how far
// it has applied and wait for an index.
type StateMachine interface {
	raft.BatchingFSM
	// AppliedIndex is the last log index whose effects are in the state.
	AppliedIndex() uint64
	// WaitApplied blocks until AppliedIndex reaches index or done closes.
	WaitApplied(done <-chan struct{}, index uint64) bool
	// Restore from a snapshot stream (raft.FSM's, repeated for clarity).
	Restore(io.ReadCloser) error
}

// ReplicaConfig configures one replica of one Raft group.
type ReplicaConfig struct {
	// Group names the Raft group ("zone/A", "meta").
	Group string
	// NodeID is this node's server id in the group.
	NodeID string
	// Dir holds the group's Raft log, snapshots and state.
	Dir string
	// Stream carries the group's Raft traffic (a mux layer or a TCP
	// listener's layer).
	Stream raft.StreamLayer
	// SelfRestoring is true for state machines that persist their own
	// applied index (the zone FSM): a restart replays only the log after
	// it, and the last snapshot is restored only if the state is behind it.
	SelfRestoring bool

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	MaxAppendEntries   int
	Logger             *slog.Logger
	// Metrics, if not nil, times the group's log writes and snapshots.
	Metrics *Metrics
	// LogStore is the Raft log store a new folder gets (logstore.go);
	// empty is LogStoreWAL. A folder that holds a log keeps its kind.
	LogStore LogStoreKind
}

// Replica is this node's member of one Raft group: raft over a log and
// stable store (raft-wal, or raft-boltdb in older folders; logstore.go),
// file snapshots and a state machine. Its methods are safe for concurrent
// use.
type Replica struct {
	cfg   ReplicaConfig
	sm    StateMachine
	raft  *raft.Raft
	logs  raft.LogStore
	store raftStore
	trans *heartbeatGuard
	log   *slog.Logger

	hasState bool
	// leaders counts the leaders this replica has learned of (observer.go).
	leaders leaderCounter
	// barrierTerm is the term in which this replica, as leader, last
	// finished a barrier; reads in that term need no new one.
	barrierTerm atomic.Uint64
	// prop gathers ApplyCommands calls into entries (propose.go).
	prop proposer
	// down is closed once Raft has shut down (future.go).
	down raftDown
}

// OpenReplica starts raft for the group. The group has no members until
// Bootstrap, or until a leader adds this replica.
func OpenReplica(cfg ReplicaConfig, sm StateMachine) (*Replica, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("replica %s: %w", cfg.Group, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Replica{cfg: cfg, sm: sm, log: log.With("group", cfg.Group)}
	if err := r.open(); err != nil {
		r.closeStores()
		return nil, err
	}
	return r, nil
}

func (r *Replica) open() error {
	cfg := &r.cfg
	hlog := raftLogger(r.log)
	_, existed, err := StoreIn(cfg.Dir)
	if err != nil {
		return fmt.Errorf("open raft log of %s: %w", cfg.Group, err)
	}
	var kind LogStoreKind
	if r.store, kind, err = openRaftStore(cfg.Dir, cfg.LogStore, hlog); err != nil {
		return fmt.Errorf("open raft log of %s: %w", cfg.Group, err)
	}
	r.log.Info("raft log store", "kind", string(kind), "existing", existed)
	fileSnaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		return fmt.Errorf("open snapshots of %s: %w", cfg.Group, err)
	}
	var snaps raft.SnapshotStore = fileSnaps
	var logStore raft.LogStore = r.store
	if cfg.Metrics != nil {
		cfg.Metrics.open(cfg.Group)
		snaps = timedSnapshots{SnapshotStore: fileSnaps, m: cfg.Metrics, group: cfg.Group}
		logStore = timedLogStore{LogStore: r.store, obs: cfg.Metrics.logStore.WithLabelValues(cfg.Group)}
	}
	if cfg.SelfRestoring {
		if err := r.catchUpFromSnapshot(snaps); err != nil {
			return err
		}
	}
	r.trans = &heartbeatGuard{NetworkTransport: raft.NewNetworkTransportWithLogger(cfg.Stream, 4, 10*time.Second, hlog)}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.NoSnapshotRestoreOnStart = cfg.SelfRestoring

	if r.logs, err = raft.NewLogCache(1024, logStore); err != nil {
		return err
	}
	if r.hasState, err = raft.HasExistingState(r.logs, r.store, snaps); err != nil {
		return fmt.Errorf("check raft state of %s: %w", cfg.Group, err)
	}
	if r.raft, err = raft.NewRaft(rc, r.sm, r.logs, r.store, snaps, r.trans); err != nil {
		return fmt.Errorf("start raft of %s: %w", cfg.Group, err)
	}
	r.leaders.start(r.raft)
	return nil
}

// catchUpFromSnapshot restores the newest snapshot into the state when the
// state is behind it (lost or replaced): with snapshot restore on start
// turned off, Raft would otherwise skip the entries the snapshot covers.
func (r *Replica) catchUpFromSnapshot(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	if list[0].Index <= r.sm.AppliedIndex() {
		return nil
	}
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", list[0].ID, err)
	}
	r.log.Warn("state is behind the newest snapshot; restoring it", "state_index", r.sm.AppliedIndex(), "snapshot_index", list[0].Index)
	return r.sm.Restore(rc)
}

// HasState reports whether the replica found Raft state when it opened.
func (r *Replica) HasState() bool { return r.hasState }

// Bootstrap forms the group with servers if this replica has no state.
// Every replica bootstrapped with the same servers forms the same group.
func (r *Replica) Bootstrap(servers []raft.Server) error {
	if r.hasState {
		return nil
	}
	err := r.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && err != raft.ErrCantBootstrap {
		return fmt.Errorf("bootstrap %s: %w", r.cfg.Group, err)
	}
	r.hasState = true
	return nil
}

// Raft is the underlying raft instance.
func (r *Replica) Raft() *raft.Raft { return r.raft }

// Group is the group's name.
func (r *Replica) Group() string { return r.cfg.Group }

// Addr is this replica's Raft address.
func (r *Replica) Addr() raft.ServerAddress { return r.trans.LocalAddr() }

// IsLeader reports whether this replica leads its group now.
func (r *Replica) IsLeader() bool { return r.raft.State() == raft.Leader }

// Apply proposes data and waits for the state machine's result. Errors
// wrap ErrNotLeader, ErrNotApplied or ErrUnknownOutcome.
func (r *Replica) Apply(data []byte, timeout time.Duration) (any, error) {
	out, _, err := r.ApplyIndex(data, timeout)
	return out, err
}

// ApplyIndex is Apply that also returns the log index the entry got (0 when
// it was not applied).
func (r *Replica) ApplyIndex(data []byte, timeout time.Duration) (any, uint64, error) {
	f := r.raft.Apply(data, timeout)
	if err := classifyApply(r.await(context.Background(), f)); err != nil {
		return nil, 0, err
	}
	return f.Response(), f.Index(), nil
}

// Linearizable makes a read that follows it see every write acknowledged
// before it began: a barrier once per leader term (so the state machine has
// applied everything earlier leaders committed), then read index = commit
// index, a leadership check by heartbeat round, and a wait until the state
// machine has applied the read index.
func (r *Replica) Linearizable(ctx context.Context, timeout time.Duration) error {
	if r.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	// The timeout bounds the whole read, and Raft going down ends it (it
	// can leave the checks below, and entries the state machine had yet
	// to apply, unanswered).
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if term := r.raft.CurrentTerm(); r.barrierTerm.Load() != term {
		if err := r.await(ctx, r.raft.Barrier(timeout)); err != nil {
			return readErr(err)
		}
		r.barrierTerm.Store(term)
	}
	readIndex := r.raft.CommitIndex()
	if err := r.await(ctx, r.raft.VerifyLeader()); err != nil {
		return readErr(err)
	}
	want := r.lastFSMEntry(readIndex)
	if r.sm.AppliedIndex() >= want {
		return nil
	}
	wctx, wcancel := r.untilDown(ctx)
	defer wcancel()
	if !r.sm.WaitApplied(wctx.Done(), want) {
		if ctx.Err() == nil {
			return fmt.Errorf("%w: replica of %s shut down before its state machine reached index %d", ErrNotApplied, r.cfg.Group, want)
		}
		return fmt.Errorf("%w: state machine did not reach index %d in time", ErrNotApplied, want)
	}
	return nil
}

// lastFSMEntry returns the index of the last entry at or below index that
// the state machine sees. Raft hands it only command and configuration
// entries (no-ops and barriers never reach it), so its applied index can
// stop below a commit index that ends in one of those.
func (r *Replica) lastFSMEntry(index uint64) uint64 {
	for i := index; i > r.sm.AppliedIndex(); i-- {
		var l raft.Log
		if err := r.logs.GetLog(i, &l); err != nil {
			return i // not in the log: compacted into a snapshot, or unreadable
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return 0
}

// TermAt returns the term of the entry at index: from the log, else from
// the newest snapshot if it ends there, else the current term (an upper
// bound: the entry is older).
func (r *Replica) TermAt(index uint64) uint64 {
	var l raft.Log
	if err := r.logs.GetLog(index, &l); err == nil {
		return l.Term
	}
	st := r.raft.Stats()
	if st["last_snapshot_index"] == strconv.FormatUint(index, 10) {
		if t, err := strconv.ParseUint(st["last_snapshot_term"], 10, 64); err == nil {
			return t
		}
	}
	return r.raft.CurrentTerm()
}

// Members returns the group's configuration.
func (r *Replica) Members() ([]raft.Server, error) {
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// AddServer adds (or re-adds under a new address) a voter or non-voter.
// Only the leader may call it.
func (r *Replica) AddServer(id string, addr raft.ServerAddress, voter bool, timeout time.Duration) error {
	servers, err := r.Members()
	if err != nil {
		return readErr(err)
	}
	for _, s := range servers {
		switch {
		case s.ID == raft.ServerID(id) && s.Address == addr && (s.Suffrage == raft.Voter) == voter:
			return nil
		case s.ID == raft.ServerID(id) && s.Suffrage == raft.Voter && !voter:
			return nil // never demote a voter by adding it as a non-voter
		case s.ID == raft.ServerID(id) || s.Address == addr:
			if err := r.await(context.Background(), r.raft.RemoveServer(s.ID, 0, timeout)); err != nil {
				return classifyApply(err)
			}
		}
	}
	var f raft.IndexFuture
	if voter {
		f = r.raft.AddVoter(raft.ServerID(id), addr, 0, timeout)
	} else {
		f = r.raft.AddNonvoter(raft.ServerID(id), addr, 0, timeout)
	}
	if err := r.await(context.Background(), f); err != nil {
		return classifyApply(err)
	}
	r.log.Info("added server", "id", id, "addr", addr, "voter", voter)
	return nil
}

// Shutdown stops raft and closes the stores.
func (r *Replica) Shutdown() error {
	r.prop.close()
	err := r.raft.Shutdown().Error()
	r.down.close()
	r.leaders.stop(r.raft)
	r.closeStores()
	return err
}

func (r *Replica) closeStores() {
	if r.trans != nil {
		r.trans.Close()
	}
	if r.store != nil {
		r.store.Close()
	}
}
