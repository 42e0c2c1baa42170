package server

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/buildinfo"
	imetrics "github.com/rzonedb/rzone/internal/metrics"
	"github.com/rzonedb/rzone/zone"
)

// metrics are one node's Prometheus series, in a registry of its own so
// that several nodes can live in one process (rzone dev).
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	forwarded     *prometheus.CounterVec
	applies       *prometheus.CounterVec
	applyLatency  *prometheus.HistogramVec
	results       *prometheus.CounterVec
	posted        prometheus.Counter
	leaseRenewals *prometheus.CounterVec
	// zone times the replicas' log writes and snapshots; stateCommit the
	// state files' commits.
	zone        *zone.Metrics
	stateCommit *prometheus.HistogramVec

	guardMarks       prometheus.Counter
	guardClears      prometheus.Counter
	guardLive        prometheus.Gauge
	guardMarkSeconds prometheus.Histogram
	failoverPhase    *prometheus.GaugeVec
	reconcileSeconds *prometheus.GaugeVec
	// stores counts the payments of the failover stores this node leads.
	stores       *zone.StoreMetrics
	authFailures *prometheus.CounterVec
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_http_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rzone_http_request_duration_seconds", Help: "API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_forwarded_requests_total", Help: "Requests this node forwarded to its leader, by outcome.",
		}, []string{"outcome"}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_raft_applies_total", Help: "Entries proposed by this node, by command and outcome (ok, not_applied, unknown_outcome).",
		}, []string{"cmd", "outcome"}),
		applyLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rzone_raft_apply_duration_seconds", Help: "Time from proposal to applied result, by command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"cmd"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_command_results_total", Help: "Business outcomes of commands proposed here.",
		}, []string{"cmd", "result"}),
		posted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzone_posted_payments_total", Help: "Payments booked into bills by this node as leader.",
		}),
		zone: zone.NewMetrics(),
		stateCommit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rzone_fsm_commit_duration_seconds", Help: "Time to commit applied entries to a zone's state file (bbolt write and fsync; every 10,000 commands or 100 ms, and before reads and snapshots), by group.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"group"}),
		leaseRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_lease_renewals_total", Help: "Ownership lease renewals by this node as zone leader, by outcome.",
		}, []string{"outcome"}),
	}
	m.guardMarks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rzone_guard_marks_total", Help: "Guard marks this node, as zone leader, had recorded in the backup zone.",
	})
	m.guardClears = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rzone_guard_clears_total", Help: "Guard marks this node, as zone leader, cleared in the backup zone.",
	})
	m.guardLive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rzone_guard_marked_accounts", Help: "Accounts this zone leader holds marked in the backup zone.",
	})
	m.guardMarkSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "rzone_guard_mark_duration_seconds", Help: "Time a write waited for its guard marks to commit in the backup zone.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	m.failoverPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rzone_zone_phase", Help: "1 for each zone's current failover phase (normal, failing_over, failover, reconciling), as the meta state says.",
	}, []string{"zone", "phase"})
	m.reconcileSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rzone_reconcile_duration_seconds", Help: "Duration of a zone's last reconciliation (set by the meta leader that ran it).",
	}, []string{"zone"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rzone_auth_failures_total", Help: "Requests refused for a missing, unknown or too small token, by code.",
	}, []string{"code"})
	m.reg.MustRegister(m.authFailures)
	m.stores = zone.NewStoreMetrics()
	m.reg.MustRegister(m.guardMarks, m.guardClears, m.guardLive, m.guardMarkSeconds, m.failoverPhase, m.reconcileSeconds)
	m.reg.MustRegister(m.stores.Collectors()...)
	build := buildinfo.Get()
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rzone_build_info", Help: "Always 1; the labels name the build this node runs.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "go": build.Go},
	}, func() float64 { return 1 }))
	m.reg.MustRegister(imetrics.NewRaftCollector(n.replicas), m.stateCommit, imetrics.LibSink())
	m.reg.MustRegister(m.zone.Collectors()...)
	m.reg.MustRegister(m.requests, m.latency, m.forwarded, m.applies, m.applyLatency, m.results, m.posted, m.leaseRenewals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rzone_fsm_apply_batches_total", Help: "Apply batches of the own zone's state machine (one bbolt transaction each)."},
			func() float64 { b, _ := n.applyStats(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rzone_fsm_apply_entries_total", Help: "Log entries the own zone's state machine applied."},
			func() float64 { _, e := n.applyStats(); return float64(e) }),
	)
	return m
}

func (m *metrics) observeApply(cmd fsm.CmdType, err error, d time.Duration) {
	outcome := "ok"
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		outcome = "unknown_outcome"
	case err != nil:
		outcome = "not_applied"
	}
	m.applies.WithLabelValues(cmd.String(), outcome).Inc()
	m.applyLatency.WithLabelValues(cmd.String()).Observe(d.Seconds())
}

func (n *Node) applyStats() (uint64, uint64) {
	if f := n.FSM(); f != nil {
		return f.ApplyStats()
	}
	return 0, 0
}
