package zone

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// answeringHost is a cluster node whose backup zone's nodes answer that
// they applied zone A up to applied.
type answeringHost struct {
	Host
	meta    *fsm.Meta
	applied uint64
}

func (h answeringHost) Meta() *fsm.Meta { return h.meta }
func (h answeringHost) AskReplicas(ctx context.Context, nodes []fsm.NodeInfo) map[string][]api.ReplicaState {
	out := map[string][]api.ReplicaState{}
	for _, nd := range nodes {
		out[nd.ID] = []api.ReplicaState{{Group: "zone/A", AppliedIndex: h.applied}}
	}
	return out
}

// TestClearMarksAfterTheGuardWasDropped: the guard loop's clear asks the
// backup zone's replicas (up to a second) with the guard it found; a write
// may drop that guard meanwhile (its backup zone failed over). The clear
// then does nothing, where it once dereferenced the nil guard and stopped
// the node (seen in the failover-live fault scenario).
func TestClearMarksAfterTheGuardWasDropped(t *testing.T) {
	m, _ := metaOf(t)
	k := NewGuardKeeper(answeringHost{meta: m, applied: 10}, DriverConfig{}, GuardMetrics{
		Marks: prometheus.NewCounter(prometheus.CounterOpts{Name: "m"}), Clears: prometheus.NewCounter(prometheus.CounterOpts{Name: "c"}),
		Live: prometheus.NewGauge(prometheus.GaugeOpts{Name: "l"})})
	r := bootstrapOne(t)
	h := NewHosted("A", r.rep, r.f, true, false)
	gh := &GuardHolder{term: 1, start: 1}
	gh.mark.backup = "B"
	k.clearMarks(h, gh) // gh.g is nil: dropped
}
