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
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/internal/mux"
	"github.com/rzonedb/rzone/zone"
)

// Node is one rzone node: its zone's Raft replica and state machine, and the
// HTTP API. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	mux    *mux.Mux
	rep    *zone.Replica // this node's voter replica of its zone's group
	fsm    *fsm.FSM
	router zone.Router

	http     *http.Server
	httpLn   net.Listener
	metrics  *metrics
	stopping atomic.Bool
	stop     chan struct{}
	wg       sync.WaitGroup

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

// replicaConfig is the ReplicaConfig of group under dir, with the node's
// Raft tunables.
func (n *Node) replicaConfig(group, dir string, stream raft.StreamLayer) zone.ReplicaConfig {
	c := &n.cfg
	return zone.ReplicaConfig{
		Group: group, NodeID: c.NodeID, Dir: dir, Stream: stream,
		HeartbeatTimeout: c.HeartbeatTimeout, ElectionTimeout: c.ElectionTimeout, LeaderLeaseTimeout: c.LeaderLeaseTimeout,
		SnapshotThreshold: c.SnapshotThreshold, SnapshotInterval: c.SnapshotInterval, TrailingLogs: c.TrailingLogs,
		MaxAppendEntries: c.MaxAppendEntries, Logger: n.log,
	}
}

func (n *Node) openRaft() error {
	cfg := &n.cfg
	adv, err := net.ResolveTCPAddr("tcp", cfg.raftAdvertise())
	if err != nil {
		return fmt.Errorf("raft advertise address: %w", err)
	}
	if n.mux, err = mux.Listen(cfg.RaftAddr, adv, n.log); err != nil {
		return err
	}
	group := "zone/" + cfg.Zone
	layer, err := n.mux.Layer(group)
	if err != nil {
		return err
	}
	if n.fsm, err = fsm.Open(filepath.Join(cfg.DataDir, "state.db"), n.log.With("part", "fsm")); err != nil {
		return err
	}
	rc := n.replicaConfig(group, cfg.DataDir, layer)
	rc.SelfRestoring = true
	if n.rep, err = zone.OpenReplica(rc, n.fsm); err != nil {
		return err
	}
	if cfg.Bootstrap && !n.rep.HasState() {
		if err := n.rep.Bootstrap([]raft.Server{{ID: raft.ServerID(cfg.NodeID), Address: n.rep.Addr()}}); err != nil {
			return err
		}
		n.log.Info("bootstrapped a new group")
	} else if n.rep.HasState() && cfg.Join != "" {
		n.log.Info("node has raft state; --join ignored")
		n.cfg.Join = ""
	}
	return nil
}

func (n *Node) closeStores() {
	if n.rep != nil {
		n.rep.Shutdown()
	}
	if n.mux != nil {
		n.mux.Close()
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
	if err := n.rep.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("raft: %w", err))
	}
	n.rep = nil
	n.closeStores()
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// HTTPAddr is the address the API listens on.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// IsLeader reports whether this node leads its group now.
func (n *Node) IsLeader() bool { return n.rep.IsLeader() }

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
	out, err := n.rep.Apply(fsm.Encode(nil, cmds...), n.cfg.ApplyTimeout)
	n.metrics.observeApply(cmds[0].Type, err, time.Since(start))
	if err != nil {
		return nil, err
	}
	res, ok := out.([]fsm.Result)
	if !ok || len(res) != len(cmds) {
		return nil, fmt.Errorf("apply returned %T for %d commands", out, len(cmds))
	}
	for i := range res {
		n.metrics.results.WithLabelValues(cmds[i].Type.String(), res[i].Code.String()).Inc()
	}
	return res, nil
}

// linearizable runs the zone replica's read protocol (see
// zone.Replica.Linearizable).
func (n *Node) linearizable(ctx context.Context) error {
	return n.rep.Linearizable(ctx, n.cfg.ReadTimeout)
}

// leaderHTTP returns the leader's API address, waiting up to LeaderWait for
// one to be known. It returns "" when this node is the leader.
func (n *Node) leaderHTTP(ctx context.Context) (string, error) {
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for {
		_, id := n.rep.Raft().LeaderWithID()
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
		case isLeader := <-n.rep.Raft().LeaderCh():
			n.metrics.leaderChanges.Inc()
			if !isLeader {
				continue
			}
			n.log.Info("became leader", "term", n.rep.Raft().CurrentTerm())
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
		if !n.rep.IsLeader() {
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
	if err := n.rep.AddServer(id, raft.ServerAddress(raftAddr), true, n.cfg.ApplyTimeout); err != nil {
		return err
	}
	_, err := n.apply(fsm.Command{Type: fsm.CmdRegisterNode, NodeID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr})
	n.forgetAddrs()
	return err
}
