package server

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/scheduler/run"
	"github.com/rzonedb/rzone/zone"
)

// Config is one node's configuration. Start from DefaultConfig and set the
// identity fields; Validate checks it before a node starts.
type Config struct {
	// NodeID names the node in its Raft group; it must never be reused for
	// another data directory.
	NodeID string
	// Zone names the zone the node belongs to. Default "z1".
	Zone string
	// DataDir holds the Raft log, snapshots and the state file.
	DataDir string
	// RaftAddr is the TCP address the Raft transport listens on.
	RaftAddr string
	// RaftAdvertise is the Raft address other nodes dial; default RaftAddr.
	RaftAdvertise string
	// HTTPAddr is where the API listens.
	HTTPAddr string
	// HTTPAdvertise is the API address other nodes forward to; default
	// HTTPAddr.
	HTTPAdvertise string
	// Bootstrap makes this node form a new one-node group when it has no
	// state yet. Exactly one node of a new zone bootstraps.
	Bootstrap bool
	// Join is the API address of any member; a node without state asks it to
	// add this node as a voter. Ignored when the node has state.
	Join string

	// GossipAddr, when set, runs the node in cluster mode: it gossips on
	// this host:port (TCP and UDP), hosts a replica of the meta group, and
	// takes its place in the zones at `rzone cluster init`. Empty means a
	// standalone zone (Bootstrap / Join).
	GossipAddr string
	// GossipAdvertise is the gossip address others reach; default
	// GossipAddr.
	GossipAdvertise string
	// GossipSeeds are gossip addresses of members to join.
	GossipSeeds []string
	// GossipKey, if set (16, 24 or 32 bytes), encrypts gossip.
	GossipKey []byte
	// GossipFast shortens gossip's probe timing (tests, dev).
	GossipFast bool
	// LeaseDuration is how long a zone's ownership lease lasts after a
	// renewal, from the moment the zone leader asked for it; the leader
	// counts it 5% shorter to allow for clock-rate drift. Default 3s.
	LeaseDuration time.Duration
	// LeaseRenew is how often the zone leader renews. Default 500ms.
	LeaseRenew time.Duration
	// GuardClearInterval is how often a zone leader clears the guard marks
	// its backup zone's replicas have applied past. Default 300ms.
	GuardClearInterval time.Duration
	// FailoverTick is how often the meta leader drives failovers and
	// reconciliations. Default 100ms.
	FailoverTick time.Duration

	// ApplyTimeout bounds one write's wait for commit. When it passes, the
	// write's outcome is unknown. Default 5s.
	ApplyTimeout time.Duration
	// ReadTimeout bounds a linearizable read's wait (barrier, leadership
	// check, apply). Default 5s.
	ReadTimeout time.Duration
	// LeaderWait is how long a request waits for a leader to be elected
	// before it is answered "unavailable". Default 3s.
	LeaderWait time.Duration
	// PostInterval is how often the leader books accepted payments into
	// bills. Default 20ms: a payment is then mostly booked in the state
	// file commit (every 100 ms) that accepted it, so its page, its
	// account's and its bill's are written once, not once at acceptance
	// and again at booking, and each posting entry is small
	// (fsm.BenchmarkPostCadence).
	PostInterval time.Duration
	// PostBatch is the most payments one posting entry books. Default 2000.
	PostBatch int

	// HeartbeatTimeout and ElectionTimeout are Raft's, default 1s each;
	// LeaderLeaseTimeout default 500ms.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot. Default
	// 16384. SnapshotInterval is how often it is checked. Default 30s.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs is how many entries a snapshot leaves in the log, so a
	// briefly lagging follower catches up without a snapshot. Default 10240.
	TrailingLogs uint64
	// MaxAppendEntries is the most entries in one append and one apply
	// batch. Default 1024.
	MaxAppendEntries int
	// StateCommitInterval is how often a zone replica commits what it has
	// applied to its state file, at the latest (it also commits every
	// 10,000 commands, and before reads of the committed state and
	// snapshots; fsm/pending.go). Longer writes each hot page less often
	// and replays more of the log after a crash. Default 100ms.
	StateCommitInterval time.Duration
	// RaftLogStore is the Raft log store a new group folder gets: "wal"
	// (raft-wal, the default) or "bolt" (raft-boltdb's raft.db). A folder
	// that holds a log keeps its own kind (zone/logstore.go).
	RaftLogStore string

	// Sched tunes the batch scheduler (cluster mode; scheduler/run); zero
	// fields take their defaults.
	Sched run.Config
	// Notify tunes the delivery of the outbox's notifications on zone
	// leaders (scheduler/run's Outbox); zero fields take their defaults.
	Notify run.NotifyConfig

	// CertsDir holds the cluster CA, this node's certificate and the
	// gossip key (internal/certs). It turns on TLS 1.3 on the API, mutual
	// TLS between nodes (HTTP and Raft) and gossip encryption.
	CertsDir string
	// BootstrapTokenFile names a file holding an admin token (as `rzone
	// token create` prints it) that this node accepts besides the tokens
	// of the meta group: the first admin token of a cluster or a
	// standalone zone. Requires CertsDir.
	BootstrapTokenFile string
	// Insecure runs the node open: plaintext everywhere, no tokens. A
	// node refuses to start with neither CertsDir nor Insecure.
	Insecure bool

	// Pprof serves Go's profiler at /debug/pprof/ on the API. Default off.
	Pprof bool

	// Inject names deliberate faults, comma separated; only a binary built
	// with -tags faultinject accepts any.
	Inject string

	// Logger receives the node's logs, raft's included. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every tunable at its default and the
// identity fields empty.
func DefaultConfig() Config {
	return Config{
		Zone:                "z1",
		ApplyTimeout:        5 * time.Second,
		ReadTimeout:         5 * time.Second,
		LeaderWait:          3 * time.Second,
		PostInterval:        20 * time.Millisecond,
		PostBatch:           2000,
		HeartbeatTimeout:    1000 * time.Millisecond,
		ElectionTimeout:     1000 * time.Millisecond,
		LeaderLeaseTimeout:  500 * time.Millisecond,
		SnapshotThreshold:   16384,
		SnapshotInterval:    30 * time.Second,
		TrailingLogs:        10240,
		MaxAppendEntries:    1024,
		StateCommitInterval: 100 * time.Millisecond,
		RaftLogStore:        string(zone.LogStoreWAL),
		LeaseDuration:       3 * time.Second,
		LeaseRenew:          500 * time.Millisecond,
		GuardClearInterval:  300 * time.Millisecond,
		FailoverTick:        100 * time.Millisecond,
	}
}

// Validate checks the fields and their relations.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node id is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	for name, addr := range map[string]string{"raft address": c.RaftAddr, "http address": c.HTTPAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	if c.CertsDir == "" && !c.Insecure {
		errs = append(errs, ErrOpen)
	}
	if c.CertsDir != "" && c.Insecure {
		errs = append(errs, errors.New("a certs dir and insecure exclude each other"))
	}
	if c.BootstrapTokenFile != "" && c.CertsDir == "" {
		errs = append(errs, errors.New("a bootstrap token file needs a certs dir"))
	}
	if c.Bootstrap && c.Join != "" {
		errs = append(errs, errors.New("bootstrap and join exclude each other"))
	}
	if c.clustered() && (c.Bootstrap || c.Join != "") {
		errs = append(errs, errors.New("a gossip address (cluster mode) excludes bootstrap and join (standalone zone)"))
	}
	if err := fsm.ValidName("node id", c.NodeID); c.NodeID != "" && err != nil {
		errs = append(errs, err)
	}
	if err := fsm.ValidName("zone", c.Zone); c.Zone != "" && err != nil {
		errs = append(errs, err)
	}
	if c.clustered() && c.LeaseDuration > fsm.MaxLeaseDuration {
		errs = append(errs, fmt.Errorf("lease duration %s exceeds %s", c.LeaseDuration, fsm.MaxLeaseDuration))
	}
	if c.clustered() && (c.LeaseRenew <= 0 || c.LeaseDuration < 2*c.LeaseRenew) {
		errs = append(errs, fmt.Errorf("lease duration %s must be at least twice the renewal interval %s", c.LeaseDuration, c.LeaseRenew))
	}
	if c.clustered() && c.Zone == "" {
		errs = append(errs, errors.New("zone is required in cluster mode"))
	}
	for name, d := range map[string]time.Duration{"apply timeout": c.ApplyTimeout, "read timeout": c.ReadTimeout,
		"leader wait": c.LeaderWait, "post interval": c.PostInterval, "heartbeat timeout": c.HeartbeatTimeout,
		"election timeout": c.ElectionTimeout, "leader lease timeout": c.LeaderLeaseTimeout, "snapshot interval": c.SnapshotInterval, "state commit interval": c.StateCommitInterval} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("leader lease timeout %s exceeds heartbeat timeout %s", c.LeaderLeaseTimeout, c.HeartbeatTimeout))
	}
	if _, err := zone.ParseLogStoreKind(c.RaftLogStore); err != nil {
		errs = append(errs, err)
	}
	if c.PostBatch <= 0 || c.MaxAppendEntries <= 0 {
		errs = append(errs, errors.New("post batch and max append entries must be positive"))
	}
	return errors.Join(errs...)
}

func (c *Config) clustered() bool { return c.GossipAddr != "" }

func (c *Config) raftAdvertise() string { return cmp.Or(c.RaftAdvertise, c.RaftAddr) }

func (c *Config) httpAdvertise() string { return cmp.Or(c.HTTPAdvertise, c.HTTPAddr) }
