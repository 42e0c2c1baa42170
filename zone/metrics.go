package zone

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	imetrics "github.com/rzonedb/rzone/internal/metrics"
)

// Metrics are the storage series of a node's replicas, labelled by group
// (a node hosts a group at most once, so the group names the replica).
// One Metrics serves every replica of a node; its methods are safe for
// concurrent use.
type Metrics struct {
	logStore        *prometheus.HistogramVec
	snapshots       *prometheus.CounterVec
	snapshotSeconds *prometheus.HistogramVec
	snapshotBytes   *prometheus.GaugeVec
}

// NewMetrics makes the series; register Collectors in the node's registry.
func NewMetrics() *Metrics {
	return &Metrics{
		logStore: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rzone_raft_log_store_duration_seconds",
			Help:    "Time to append a batch of entries to the Raft log (fsync included: one raft-wal append, or one bbolt commit in a raft.db folder), by group.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"group"}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_raft_snapshots_total",
			Help: "Snapshots written to the group's snapshot store (taken here or received from the leader), by outcome (ok, failed, canceled).",
		}, []string{"group", "outcome"}),
		snapshotSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rzone_raft_snapshot_duration_seconds",
			Help:    "Time from creating a snapshot in the store to its close, by group (successful snapshots).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"group"}),
		snapshotBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rzone_raft_snapshot_size_bytes",
			Help: "Size of the group's last successful snapshot on this node.",
		}, []string{"group"}),
	}
}

// Collectors are the series to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.logStore, m.snapshots, m.snapshotSeconds, m.snapshotBytes}
}

// open makes group's snapshot counts exist at 0, so that an alert on their
// rate sees a series before the first snapshot.
func (m *Metrics) open(group string) {
	for _, o := range []string{"ok", "failed", "canceled"} {
		m.snapshots.WithLabelValues(group, o)
	}
}

// timedLogStore measures StoreLogs, the Raft log's write path.
type timedLogStore struct {
	raft.LogStore
	obs prometheus.Observer
}

// IsMonotonic passes on whether the store takes only contiguous entries
// (raft.MonotonicLogStore: raft-wal does): Raft then empties such a log
// when it installs a snapshot, rather than leaving a gap before the next
// entry, which raft-wal would refuse.
func (s timedLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

func (s timedLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s timedLogStore) StoreLogs(logs []*raft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLogs(logs)
	if err == nil {
		s.obs.Observe(time.Since(start).Seconds())
	}
	return err
}

// timedSnapshots counts the snapshots written to the store, their size and
// how long they took.
type timedSnapshots struct {
	raft.SnapshotStore
	m     *Metrics
	group string
}

func (s timedSnapshots) Create(version raft.SnapshotVersion, index, term uint64, conf raft.Configuration,
	confIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, conf, confIndex, trans)
	if err != nil {
		s.m.snapshots.WithLabelValues(s.group, "failed").Inc()
		return nil, err
	}
	return &timedSink{SnapshotSink: sink, s: s, start: time.Now()}, nil
}

type timedSink struct {
	raft.SnapshotSink
	s     timedSnapshots
	start time.Time
	size  int64
	// done is set by the first Close or Cancel: raft closes a sink that
	// the state machine's Persist may have closed already.
	done bool
}

func (t *timedSink) Write(p []byte) (int, error) {
	n, err := t.SnapshotSink.Write(p)
	t.size += int64(n)
	return n, err
}

func (t *timedSink) Close() error {
	err := t.SnapshotSink.Close()
	if t.done {
		return err
	}
	t.done = true
	if err != nil {
		t.s.m.snapshots.WithLabelValues(t.s.group, "failed").Inc()
		return err
	}
	t.s.m.snapshots.WithLabelValues(t.s.group, "ok").Inc()
	t.s.m.snapshotSeconds.WithLabelValues(t.s.group).Observe(time.Since(t.start).Seconds())
	t.s.m.snapshotBytes.WithLabelValues(t.s.group).Set(float64(t.size))
	return nil
}

func (t *timedSink) Cancel() error {
	if t.done {
		return t.SnapshotSink.Cancel()
	}
	t.done = true
	t.s.m.snapshots.WithLabelValues(t.s.group, "canceled").Inc()
	return t.SnapshotSink.Cancel()
}

// RaftReplicas lists every zone replica the set holds now, with the role
// the node hosts it in, for the raft series (metrics.RaftCollector). A
// voter's lease is read in cluster mode only.
func (s *ReplicaSet) RaftReplicas() []imetrics.Replica {
	var out []imetrics.Replica
	for _, h := range s.List() {
		role := imetrics.RoleZone
		switch {
		case h.Store():
			role = imetrics.RoleFailoverStore
		case !h.Voter():
			role = imetrics.RoleAsyncFollower
		}
		r := imetrics.Replica{Group: "zone/" + h.Name(), Role: role, Rep: h.Replica(), Applied: h.FSM().AppliedIndex}
		if s.cfg.Clustered && h.Voter() {
			r.LeaseUntil = h.Lease().Until
		}
		out = append(out, r)
	}
	return out
}
