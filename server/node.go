package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/auth"
	"github.com/rzonedb/rzone/internal/certs"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/internal/mux"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/internal/service"
	"github.com/rzonedb/rzone/scheduler/run"
	"github.com/rzonedb/rzone/zone"
)

// Node is one rzone node: the replicas of the Raft groups it hosts, their
// state machines, and the HTTP API. Its methods are safe for concurrent use.
//
// A standalone node (started with --bootstrap or --join) hosts one group,
// its zone, which owns every user. A cluster node (started with a gossip
// address) hosts a replica of the meta group, its zone's voter replica once
// the cluster is initialized, and async-follower replicas of the zones its
// zone backs up.
type Node struct {
	cfg       Config
	log       *slog.Logger
	mux       *mux.Mux
	clustered bool

	// zones are the zone replicas the node hosts: its own zone's,
	// async followers, failover stores (zone/replicaset.go).
	zones *zone.ReplicaSet
	// openMu serializes opening zone replicas (zones.OpenLock).
	openMu *sync.Mutex

	meta    *zone.Replica // cluster mode: this node's meta replica
	metaFSM *fsm.Meta
	// cluster is the node's membership (cluster/): meta commands, the
	// init, operations, which node answers for a zone and the forwarding
	// there, the standalone join.
	cluster *cluster.Member
	// guards keeps the own zone's guard marks in its backup zone, leases
	// renews the ownership leases of the groups this node leads and
	// watches every zone's grants (zone/guardkeeper.go, zone/lease.go).
	guards *zone.GuardKeeper
	leases *zone.LeaseKeeper
	gossip *gossip.Gossip
	// failover drives, on the meta leader, failovers and reconciliations
	// (zone/failover.go).
	failover *zone.FailoverDriver
	// moves drives, on the meta leader, shard moves (zone/shardmove.go).
	moves *zone.ShardMoveDriver

	// certs is the node's certs folder; nil when the node runs --insecure.
	certs *certs.Node
	// bootstrapToken is the SHA-256 of the admin token of
	// Config.BootstrapTokenFile; nil if none.
	bootstrapToken []byte
	// authFails counts failed authentications per source (auth.go).
	authFails auth.Limiter
	// peer carries every HTTP call to another node (internal/peer).
	peer    *peer.Client
	http    *http.Server
	httpLn  net.Listener
	metrics *metrics
	sched   *run.Scheduler // the batch scheduler's leader and worker parts (cluster mode)
	outbox  *run.Outbox
	// closing is set once Shutdown begins; stopping once it has handed
	// off the node's leaderships (from then on, no new proposals).
	closing  atomic.Bool
	stopping atomic.Bool
	// snapshotting is set while GET /v1/snapshot writes a copy of a
	// group: one at a time, as each spools a whole group to disk.
	snapshotting atomic.Bool
	stop         chan struct{}
	// handoff hands off this node's leaderships, one hand-off at a time: a
	// drain's, converge's for a drained node, a shutdown's (zone/drain.go).
	handoff *zone.Handoff
	// services are the node's background components in their start order
	// (service.go); Shutdown stops them in the reverse order.
	services *service.Set
	// failoverTasks and moveTasks hold the goroutines the failover and
	// shard move drivers start (zoneHost.Go): their services wait for them.
	// tasks holds any other driver's.
	failoverTasks, moveTasks, tasks sync.WaitGroup

	// status gathers the zone status, and holds the replica states other
	// nodes last reported (zone/status.go).
	status *zone.Status
}

// Start opens the node's stores, starts Raft and the HTTP API, and joins or
// bootstraps as configured. It returns once the API listens; groups may
// still be electing leaders.
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
	// node_zone, not zone: many lines name the zone they are about.
	log := cfg.Logger.With("node", cfg.NodeID, "node_zone", cfg.Zone)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: log, stop: make(chan struct{}),
		clustered: cfg.clustered(), peer: peer.NewClient(nil)}
	n.zones = n.newReplicaSet()
	n.openMu = n.zones.OpenLock()
	n.status = n.newStatus()
	n.handoff = zone.NewHandoff(zoneHost{n: n}, cfg.NodeID, log)
	n.removeSnapshotSpools()
	if err := n.loadCerts(); err != nil {
		return nil, err
	}
	n.cluster = n.newMember()
	n.metrics = newMetrics(n) // before open: the replicas report into it
	n.startDrivers()
	if err := n.open(); err != nil {
		n.closeAll()
		return nil, err
	}
	n.sched = run.New(schedHost{n}, n.cfg.Sched)
	n.outbox = run.NewOutbox(schedHost{n}, n.cfg.Notify)
	if err := n.startHTTP(); err != nil {
		n.closeAll()
		return nil, err
	}
	// The background services, in start order; Shutdown stops them in
	// the reverse order.
	n.startService("post", n.postLoop)
	if n.certs == nil {
		n.startService("insecure-warning", n.warnInsecure)
	} else {
		n.startService("cert-reload", n.certLoop)
	}
	if !n.cfg.Notify.Off {
		n.startService("outbox", func(<-chan struct{}) { n.outbox.Run() }) // stops on n.stop
	}
	if n.clustered {
		if err := n.startCluster(); err != nil {
			n.Shutdown(context.Background())
			return nil, err
		}
	} else {
		n.startService("register-leader", n.leaderLoop)
		if n.cfg.Join != "" {
			n.startService("join", n.joinLoop)
		}
	}
	log.Info("node started", "raft", cfg.raftAdvertise(), "http", cfg.httpAdvertise(), "clustered", n.clustered)
	return n, nil
}

func (n *Node) open() error {
	cfg := &n.cfg
	adv, err := net.ResolveTCPAddr("tcp", cfg.raftAdvertise())
	if err != nil {
		return fmt.Errorf("raft advertise address: %w", err)
	}
	var srvTLS, cliTLS *tls.Config
	if n.certs != nil {
		srvTLS, cliTLS = n.certs.PeerServerConfig(), n.certs.PeerClientConfig()
	}
	if n.mux, err = mux.ListenTLS(cfg.RaftAddr, adv, n.log, srvTLS, cliTLS); err != nil {
		return err
	}
	if n.clustered {
		return n.openClusterGroups()
	}
	// Standalone: the zone's files sit directly in the data dir.
	hadState, err := n.zones.OpenStandalone(cfg.Bootstrap)
	if err != nil {
		return err
	}
	if hadState && cfg.Join != "" {
		n.log.Info("node has raft state; --join ignored")
		n.cfg.Join = ""
	}
	return nil
}

// Shutdown first hands off the leadership of every group the node leads
// (each transfer bounded by zone.HandoffTimeout and ctx), so that no group
// waits an election timeout for a new leader; then it stops the API
// (letting requests in flight finish until ctx ends), the background
// services in the reverse of their start order (each logged with how long
// it took to stop), gossip (leaving the cluster) and Raft, and closes the
// stores. Closing n.stop tells every service and long wait to end; each
// service is then stopped and waited for in turn.
func (n *Node) Shutdown(ctx context.Context) error {
	if !n.closing.CompareAndSwap(false, true) {
		return nil
	}
	if moves := n.handoff.HandOff(ctx); len(moves) > 0 {
		n.log.Info("leadership handed off before stopping", "groups", len(moves))
	}
	n.stopping.Store(true)
	close(n.stop)
	var errs []error
	if n.http != nil {
		if err := n.http.Shutdown(ctx); err != nil {
			// Requests still running when ctx ended: close their
			// connections; they end on the closed groups' errors.
			n.http.Close()
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	}
	n.stopServices()
	n.tasks.Wait()
	if n.gossip != nil {
		n.gossip.Leave(time.Second)
	}
	n.closeAll()
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// HTTPAddr is the address the API listens on.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// IsLeader reports whether this node leads its own zone's group now.
func (n *Node) IsLeader() bool {
	h := n.zones.Own()
	return h != nil && h.Replica().IsLeader()
}

// FSM exposes the own zone's state machine for tests and tools (nil before
// the zone exists).
func (n *Node) FSM() *fsm.FSM {
	if h := n.zones.Own(); h != nil {
		return h.FSM()
	}
	return nil
}

// apply proposes cmds as one log entry in h's group, their guard marks
// first, and waits for their results (zone.GuardKeeper.Apply). Errors wrap
// ErrNotLeader, ErrNotApplied or ErrUnknownOutcome.
func (n *Node) apply(h *zone.Hosted, cmds ...fsm.Command) ([]fsm.Result, error) {
	if n.stopping.Load() {
		return nil, ErrShutdown
	}
	res, err := n.guards.Apply(h, n.cfg.ApplyTimeout, func(err error, d time.Duration) { n.metrics.observeApply(cmds[0].Type, err, d) }, cmds...)
	if err != nil {
		return nil, err
	}
	for i := range res {
		n.metrics.Results.WithLabelValues(cmds[i].Type.String(), res[i].Code.String()).Inc()
	}
	return res, nil
}

// leaderLoop (standalone) registers this node's API address whenever it
// becomes leader (cluster.Member.RegisterLoop).
func (n *Node) leaderLoop(stop <-chan struct{}) { n.cluster.RegisterLoop(stop, n.stop) }

// postLoop books accepted payments into bills, on the leaders of the
// groups this node votes in, every PostInterval (zone.ReplicaSet.Post).
func (n *Node) postLoop(stop <-chan struct{}) {
	shown := map[string]bool{} // the groups rzone_post_behind_seconds has a figure for
	n.every(stop, n.cfg.PostInterval, func() {
		r := n.zones.Post(n.cfg.PostBatch)
		n.metrics.Posted.Add(float64(r.Posted))
		for g := range shown {
			if _, ok := r.Behind[g]; !ok {
				n.metrics.PostBehind.DeleteLabelValues(g) // a group this node no longer leads
				delete(shown, g)
			}
		}
		for g, d := range r.Behind {
			n.metrics.PostBehind.WithLabelValues(g).Set(d.Seconds())
			shown[g] = true
		}
	})
}
