package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rzonedb/rzone/internal/buildinfo"
)

// Node is one node's Prometheus series, in a registry of its own so that
// several nodes can live in one process (rzone dev).
type Node struct {
	Reg           *prometheus.Registry
	Requests      *prometheus.CounterVec
	Latency       *prometheus.HistogramVec
	Forwarded     *prometheus.CounterVec
	Applies       *prometheus.CounterVec
	ApplyLatency  *prometheus.HistogramVec
	Results       *prometheus.CounterVec
	Posted        prometheus.Counter
	PostBehind    *prometheus.GaugeVec
	LeaseRenewals *prometheus.CounterVec
	// StateCommit times the state files' commits; StateCommitSpill and
	// StateCommitWrite time two of their parts, StateCommitPages counts
	// the pages each wrote.
	StateCommit      *prometheus.HistogramVec
	StateCommitSpill *prometheus.HistogramVec
	StateCommitWrite *prometheus.HistogramVec
	StateCommitPages *prometheus.HistogramVec

	GuardMarks       prometheus.Counter
	GuardClears      prometheus.Counter
	GuardLive        prometheus.Gauge
	GuardMarkSeconds prometheus.Histogram
	FailoverPhase    *prometheus.GaugeVec
	ReconcileSeconds *prometheus.GaugeVec
	AuthFailures     *prometheus.CounterVec
}

// Sources are what a node's series read at each scrape, and the
// collectors of other packages its registry takes.
type Sources struct {
	// Replicas lists every group the node hosts now (RaftCollector).
	Replicas func() []Replica
	// ApplyStats is the own zone's state machine's apply batches and
	// applied entries, 0 without one.
	ApplyStats func() (batches, entries uint64)
	// FrontFallbacks is the own zone's state machine's front reads done
	// again on the committed state, 0 without one.
	FrontFallbacks func() uint64
	// Collectors are registered as they are (the replicas' log and
	// snapshot timings, the failover stores' payments).
	Collectors []prometheus.Collector
}

// NewNode makes a node's series and registers them, with the Go and
// process collectors, the build info, the raft collector and the
// go-metrics sink (LibSink), in a new registry.
func NewNode(src Sources) *Node {
	m := &Node{
		Reg: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_http_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rzone_http_request_duration_seconds", Help: "API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
		Forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_forwarded_requests_total", Help: "Requests this node forwarded to its leader, by outcome.",
		}, []string{"outcome"}),
		Applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_raft_applies_total", Help: "Entries proposed by this node, by command and outcome (ok, not_applied, unknown_outcome).",
		}, []string{"cmd", "outcome"}),
		ApplyLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rzone_raft_apply_duration_seconds", Help: "Time from proposal to applied result, by command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"cmd"}),
		Results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_command_results_total", Help: "Business outcomes of commands proposed here.",
		}, []string{"cmd", "result"}),
		Posted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzone_posted_payments_total", Help: "Payments booked into bills by this node as leader.",
		}),
		PostBehind: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rzone_post_behind_seconds", Help: "On a group this node leads: how long ago the oldest payment not yet booked into its bill was accepted, after the poster's last round (0: none waits).",
		}, []string{"group"}),
		StateCommit: byGroup("rzone_fsm_commit_duration_seconds", "Time to commit applied entries to a zone's state file (bbolt write and fsync; every 10,000 commands or 100 ms, and before reads and snapshots), by group.",
			prometheus.ExponentialBuckets(0.0001, 2, 16)),
		StateCommitSpill: byGroup("rzone_fsm_commit_spill_seconds", "Part of a state file commit: laying the changed B+tree nodes out as pages (CPU, apply waits), by group.",
			prometheus.ExponentialBuckets(0.0001, 2, 16)),
		StateCommitWrite: byGroup("rzone_fsm_commit_write_seconds", "Part of a state file commit: writing its pages and meta page, each with an fdatasync, by group.",
			prometheus.ExponentialBuckets(0.0001, 2, 16)),
		StateCommitPages: byGroup("rzone_fsm_commit_pages", "Pages (of the state file's page size) a state file commit wrote, by group.",
			prometheus.ExponentialBuckets(1, 2, 18)),
		LeaseRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_lease_renewals_total", Help: "Ownership lease renewals by this node as zone leader, by outcome.",
		}, []string{"outcome"}),
		GuardMarks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzone_guard_marks_total", Help: "Guard marks this node, as zone leader, had recorded in the backup zone.",
		}),
		GuardClears: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzone_guard_clears_total", Help: "Guard marks this node, as zone leader, cleared in the backup zone.",
		}),
		GuardLive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rzone_guard_marked_accounts", Help: "Accounts this zone leader holds marked in the backup zone.",
		}),
		GuardMarkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rzone_guard_mark_duration_seconds", Help: "Time a write waited for its guard marks to commit in the backup zone.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		FailoverPhase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rzone_zone_phase", Help: "1 for each zone's current failover phase (normal, failing_over, failover, reconciling), as the meta state says.",
		}, []string{"zone", "phase"}),
		ReconcileSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rzone_reconcile_duration_seconds", Help: "Duration of a zone's last reconciliation (set by the meta leader that ran it).",
		}, []string{"zone"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_auth_failures_total", Help: "Requests refused for a missing, unknown or too small token, by code.",
		}, []string{"code"}),
	}
	build := buildinfo.Get()
	m.Reg.MustRegister(m.AuthFailures, m.GuardMarks, m.GuardClears, m.GuardLive, m.GuardMarkSeconds, m.FailoverPhase, m.ReconcileSeconds)
	m.Reg.MustRegister(src.Collectors...)
	m.Reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rzone_build_info", Help: "Always 1; the labels name the build this node runs.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "go": build.Go},
	}, func() float64 { return 1 }))
	m.Reg.MustRegister(NewRaftCollector(src.Replicas), m.StateCommit, m.StateCommitSpill, m.StateCommitWrite, m.StateCommitPages, LibSink())
	m.Reg.MustRegister(m.Requests, m.Latency, m.Forwarded, m.Applies, m.ApplyLatency, m.Results, m.Posted, m.PostBehind, m.LeaseRenewals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rzone_fsm_apply_batches_total", Help: "Apply batches of the own zone's state machine (one bbolt transaction each)."},
			func() float64 { b, _ := src.ApplyStats(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rzone_fsm_apply_entries_total", Help: "Log entries the own zone's state machine applied."},
			func() float64 { _, e := src.ApplyStats(); return float64(e) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rzone_fsm_front_fallbacks_total", Help: "Reads of an index's front (the poster's, the outbox's, a task's due users) on the own zone's state machine that passed over more than 4,096 keys of the applied state and were done again on the committed state, each after a state file commit."},
			func() float64 { return float64(src.FrontFallbacks()) }),
	)
	return m
}

// ObserveApply counts a proposal of cmd with its outcome (ok,
// not_applied, unknown_outcome) and times it.
func (m *Node) ObserveApply(cmd, outcome string, d time.Duration) {
	m.Applies.WithLabelValues(cmd, outcome).Inc()
	m.ApplyLatency.WithLabelValues(cmd).Observe(d.Seconds())
}

// byGroup is a histogram with a group label.
func byGroup(name, help string, buckets []float64) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, []string{"group"})
}
