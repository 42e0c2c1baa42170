package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/internal/logging"
	"github.com/rzonedb/rzone/zone"
)

// Node is one rzone node: its zone's Raft replica and state machine, and the
// HTTP API. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	fsm    *fsm.FSM
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	store  *raftboltdb.BoltStore
	logs   raft.LogStore
	router zone.Router

	http     *http.Server
	httpLn   net.Listener
	metrics  *metrics
	stopping atomic.Bool
	stop     chan struct{}
	wg       sync.WaitGroup

	// barrierTerm is the term in which this node, as leader, last finished
	// a barrier; reads in that term need no new one.
	barrierTerm atomic.Uint64
	// addrs caches node id -> HTTP address from the state machine.
	addrsMu sync.Mutex
	addrs   map[string]string
}

// Start opens the node's stores, starts Raft and the HTTP API, and joins or
// bootstraps the group as configured. It returns once the API listens; the
// group may still be electing a leader.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := inject.Set(cfg.Inject); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("node", cfg.NodeID, "zone", cfg.Zone)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: log, stop: make(chan struct{}), router: zone.Single(cfg.Zone), addrs: map[string]string{}}
	if err := n.openRaft(); err != nil {
		n.closeStores()
		return nil, err
	}
	n.metrics = newMetrics(n)
	if err := n.startHTTP(); err != nil {
		n.raft.Shutdown().Error()
		n.closeStores()
		return nil, err
	}
	n.goLoop(n.postLoop)
	n.goLoop(n.leaderLoop)
	if cfg.Join != "" {
		n.goLoop(n.joinLoop)
	}
	log.Info("node started", "raft", cfg.raftAdvertise(), "http", cfg.httpAdvertise(), "applied_index", n.fsm.AppliedIndex())
	return n, nil
}

func (n *Node) goLoop(fn func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
}

func (n *Node) openRaft() error {
	cfg := &n.cfg
	var err error
	if n.fsm, err = fsm.Open(filepath.Join(cfg.DataDir, "state.db"), n.log.With("part", "fsm")); err != nil {
		return err
	}
	if n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")}); err != nil {
		return fmt.Errorf("open raft log: %w", err)
	}
	hlog := logging.HCLog(n.log, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		return fmt.Errorf("open snapshots: %w", err)
	}
	if err := n.catchUpFromSnapshot(snaps); err != nil {
		return err
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.raftAdvertise())
	if err != nil {
		return fmt.Errorf("raft advertise address: %w", err)
	}
	if n.trans, err = raft.NewTCPTransportWithLogger(cfg.RaftAddr, adv, 4, 10*time.Second, hlog); err != nil {
		return fmt.Errorf("raft transport: %w", err)
	}

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
	// The state file keeps its own applied index, so a restart replays only
	// the log after it instead of restoring the last snapshot first.
	rc.NoSnapshotRestoreOnStart = true

	if n.logs, err = raft.NewLogCache(1024, n.store); err != nil {
		return err
	}
	hasState, err := raft.HasExistingState(n.logs, n.store, snaps)
	if err != nil {
		return fmt.Errorf("check raft state: %w", err)
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, n.logs, n.store, snaps, n.trans); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	if cfg.Bootstrap && !hasState {
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: n.trans.LocalAddr()}}}
		if err := n.raft.BootstrapCluster(boot).Error(); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		n.log.Info("bootstrapped a new group")
	}
	if hasState && cfg.Join != "" {
		n.log.Info("node has raft state; --join ignored")
		n.cfg.Join = ""
	}
	return nil
}

// catchUpFromSnapshot restores the newest snapshot into the state file when
// the file is behind it (lost or replaced): with snapshot restore on start
// turned off, Raft would otherwise skip the entries the snapshot covers.
func (n *Node) catchUpFromSnapshot(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	if list[0].Index <= n.fsm.AppliedIndex() {
		return nil
	}
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", list[0].ID, err)
	}
	n.log.Warn("state file is behind the newest snapshot; restoring it", "state_index", n.fsm.AppliedIndex(), "snapshot_index", list[0].Index)
	return n.fsm.Restore(rc)
}

func (n *Node) closeStores() {
	if n.trans != nil {
		n.trans.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.fsm != nil {
		n.fsm.Close()
	}
}

// Shutdown stops the API (letting requests in flight finish until ctx
// ends), the loops and Raft, and closes the stores.
func (n *Node) Shutdown(ctx context.Context) error {
	if !n.stopping.CompareAndSwap(false, true) {
		return nil
	}
	close(n.stop)
	var errs []error
	if err := n.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	n.wg.Wait()
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("raft: %w", err))
	}
	n.closeStores()
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// HTTPAddr is the address the API listens on.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// IsLeader reports whether this node leads its group now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// FSM exposes the state machine for reads in tests and tools.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// apply proposes cmds as one log entry and waits for their results. The
// leader stamps the time. Errors wrap ErrNotLeader, ErrNotApplied or
// ErrUnknownOutcome.
func (n *Node) apply(cmds ...fsm.Command) ([]fsm.Result, error) {
	if n.stopping.Load() {
		return nil, ErrShutdown
	}
	now := time.Now().UnixMilli()
	for i := range cmds {
		cmds[i].Time = now
	}
	start := time.Now()
	f := n.raft.Apply(fsm.Encode(nil, cmds...), n.cfg.ApplyTimeout)
	err := classifyApply(f.Error())
	n.metrics.observeApply(cmds[0].Type, err, time.Since(start))
	if err != nil {
		return nil, err
	}
	res, ok := f.Response().([]fsm.Result)
	if !ok || len(res) != len(cmds) {
		return nil, fmt.Errorf("apply returned %T for %d commands", f.Response(), len(cmds))
	}
	for i := range res {
		n.metrics.results.WithLabelValues(cmds[i].Type.String(), res[i].Code.String()).Inc()
	}
	return res, nil
}

// linearizable makes a read that follows it see every write acknowledged
// before it began: a barrier once per leader term (so the state machine has
// applied everything earlier leaders committed), then read index = commit
// index, a leadership check by heartbeat round, and a wait until the state
// machine has applied the read index.
func (n *Node) linearizable(ctx context.Context) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	timeout := n.cfg.ReadTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if term := n.raft.CurrentTerm(); n.barrierTerm.Load() != term {
		if err := n.raft.Barrier(timeout).Error(); err != nil {
			return readErr(err)
		}
		n.barrierTerm.Store(term)
	}
	readIndex := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return readErr(err)
	}
	if want := n.lastFSMEntry(readIndex); !n.fsm.WaitApplied(ctx.Done(), want) {
		return fmt.Errorf("%w: state machine did not reach index %d in time", ErrNotApplied, want)
	}
	return nil
}

// lastFSMEntry returns the index of the last entry at or below index that
// the state machine sees. Raft hands it only command and configuration
// entries (no-ops and barriers never reach it), so its applied index can
// stop below a commit index that ends in one of those.
func (n *Node) lastFSMEntry(index uint64) uint64 {
	for i := index; i > n.fsm.AppliedIndex(); i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			return i // not in the log: compacted into a snapshot, or unreadable
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return 0
}

func readErr(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return errors.Join(ErrNotLeader, err)
	}
	return errors.Join(ErrNotApplied, err)
}

// leaderHTTP returns the leader's API address, waiting up to LeaderWait for
// one to be known. It returns "" when this node is the leader.
func (n *Node) leaderHTTP(ctx context.Context) (string, error) {
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for {
		_, id := n.raft.LeaderWithID()
		if id == raft.ServerID(n.cfg.NodeID) {
			return "", nil
		}
		if id != "" {
			if addr := n.httpAddrOf(string(id)); addr != "" {
				return addr, nil
			}
		}
		if time.Now().After(deadline) {
			if id != "" {
				return "", fmt.Errorf("%w: leader %s has no known API address yet", ErrNoLeader, id)
			}
			return "", fmt.Errorf("%w after %s", ErrNoLeader, n.cfg.LeaderWait)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-n.stop:
			return "", ErrShutdown
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (n *Node) httpAddrOf(id string) string {
	n.addrsMu.Lock()
	defer n.addrsMu.Unlock()
	if a, ok := n.addrs[id]; ok {
		return a
	}
	addrs, err := n.fsm.NodeAddrs()
	if err != nil {
		return ""
	}
	n.addrs = addrs
	return addrs[id]
}

// leaderLoop registers this node's API address whenever it becomes leader
// and it is not yet recorded (the bootstrap node registers itself this way).
func (n *Node) leaderLoop() {
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-n.raft.LeaderCh():
			n.metrics.leaderChanges.Inc()
			if !isLeader {
				continue
			}
			n.log.Info("became leader", "term", n.raft.CurrentTerm())
			if addrs, err := n.fsm.NodeAddrs(); err == nil && addrs[n.cfg.NodeID] == n.cfg.httpAdvertise() {
				continue
			}
			_, err := n.apply(fsm.Command{Type: fsm.CmdRegisterNode, NodeID: n.cfg.NodeID,
				RaftAddr: n.cfg.raftAdvertise(), HTTPAddr: n.cfg.httpAdvertise()})
			if err != nil {
				n.log.Warn("register self", "err", err)
			}
			n.forgetAddrs()
		}
	}
}

func (n *Node) forgetAddrs() {
	n.addrsMu.Lock()
	n.addrs = map[string]string{}
	n.addrsMu.Unlock()
}

// postLoop books accepted payments into bills, on the leader, every
// PostInterval. Posting is idempotent, so a post proposed by a leader that
// then lost its term does no harm.
func (n *Node) postLoop() {
	t := time.NewTicker(n.cfg.PostInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.raft.State() != raft.Leader {
			continue
		}
		refs, err := n.fsm.Unposted(n.cfg.PostBatch)
		if err != nil || len(refs) == 0 {
			continue
		}
		res, err := n.apply(fsm.Command{Type: fsm.CmdPost, Posts: refs})
		if err != nil {
			n.log.Debug("post", "payments", len(refs), "err", err)
			continue
		}
		n.metrics.posted.Add(float64(res[0].Posted))
	}
}

// addVoter adds (or re-adds under a new address) a node as a voter and
// records its API address. Only the leader may call it.
func (n *Node) addVoter(id, raftAddr, httpAddr string) error {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return readErr(err)
	}
	member := false
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == raft.ServerID(id) && s.Address == raft.ServerAddress(raftAddr):
			member = true
		case s.ID == raft.ServerID(id) || s.Address == raft.ServerAddress(raftAddr):
			if err := n.raft.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout).Error(); err != nil {
				return classifyApply(err)
			}
		}
	}
	if !member {
		if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.cfg.ApplyTimeout).Error(); err != nil {
			return classifyApply(err)
		}
		n.log.Info("added voter", "id", id, "raft", raftAddr)
	}
	_, err := n.apply(fsm.Command{Type: fsm.CmdRegisterNode, NodeID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr})
	n.forgetAddrs()
	return err
}
