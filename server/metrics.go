package server

import (
	"errors"
	"time"

	"github.com/rzonedb/rzone/fsm"
	imetrics "github.com/rzonedb/rzone/internal/metrics"
	"github.com/rzonedb/rzone/zone"
)

// metrics are one node's Prometheus series (internal/metrics.Node) and
// the zone replicas' own: zone times the replicas' log writes and
// snapshots, stores counts the payments of the failover stores this node
// leads.
type metrics struct {
	*imetrics.Node
	zone   *zone.Metrics
	stores *zone.StoreMetrics
}

func newMetrics(n *Node) *metrics {
	m := &metrics{zone: zone.NewMetrics(), stores: zone.NewStoreMetrics()}
	m.Node = imetrics.NewNode(imetrics.Sources{Replicas: n.replicas, ApplyStats: n.applyStats, FrontFallbacks: n.frontFallbacks,
		Collectors: append(m.stores.Collectors(), m.zone.Collectors()...)})
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
	m.ObserveApply(cmd.String(), outcome, d)
}

func (n *Node) applyStats() (uint64, uint64) {
	if f := n.FSM(); f != nil {
		return f.ApplyStats()
	}
	return 0, 0
}

func (n *Node) frontFallbacks() uint64 {
	if f := n.FSM(); f != nil {
		return f.FrontFallbacks()
	}
	return 0
}

// replicas lists every group this node hosts now, for the raft series
// (internal/metrics.RaftCollector).
func (n *Node) replicas() []imetrics.Replica {
	var out []imetrics.Replica
	if n.meta != nil && n.metaFSM != nil {
		out = append(out, imetrics.Replica{Group: "meta", Role: imetrics.RoleMeta, Rep: n.meta, Applied: n.metaFSM.AppliedIndex})
	}
	return append(out, n.zones.RaftReplicas()...)
}
