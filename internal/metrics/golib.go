package metrics

import (
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gometricsprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// libMetrics is the process's sink for the go-metrics that hashicorp/raft,
// raft-wal, raft-boltdb and memberlist emit (raft_*, raft_wal_*,
// raft_boltdb_*, memberlist_*).
// go-metrics keeps one global sink per process, so every node of a process
// (rzone dev, tests) serves the same series: the whole process's.
var libMetrics struct {
	once sync.Once
	sink prometheus.Collector
}

// LibSink sets up the go-metrics global sink on first use and returns
// it, to be registered in each node's registry. Library timers are
// summaries in milliseconds, as go-metrics measures them; a series not
// updated for a minute is dropped.
func LibSink() prometheus.Collector {
	libMetrics.once.Do(func() {
		// The sink registers itself; into a registry of its own here, as the
		// nodes' registries take it below.
		sink, err := gometricsprom.NewPrometheusSinkFrom(gometricsprom.PrometheusOpts{
			Expiration: time.Minute, Registerer: prometheus.NewRegistry(), Name: "rzone_go_metrics_sink",
		})
		if err != nil {
			panic(err) // a fresh registry refuses nothing
		}
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false       // no host name in front of gauges' names
		cfg.EnableRuntimeMetrics = false // the Go collector exports the runtime's
		if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
			panic(err)
		}
		libMetrics.sink = sink
	})
	return libMetrics.sink
}
