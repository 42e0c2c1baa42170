package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestNodeSeries: a node's registry holds its series, the build info, the
// state machine's apply counts read at each scrape and the collectors it
// was given; ObserveApply counts and times a proposal by command and
// outcome.
func TestNodeSeries(t *testing.T) {
	extra := prometheus.NewCounter(prometheus.CounterOpts{Name: "rzone_test_extra_total", Help: "A collector of another package."})
	batches := uint64(3)
	m := NewNode(Sources{Replicas: func() []Replica { return nil },
		ApplyStats: func() (uint64, uint64) { return batches, 7 }, FrontFallbacks: func() uint64 { return 2 }, Collectors: []prometheus.Collector{extra}})
	m.ObserveApply("pay", "unknown_outcome", 2*time.Millisecond)
	m.ObserveApply("pay", "ok", time.Millisecond)
	m.ObserveApply("pay", "ok", time.Millisecond)
	mfs, err := m.Reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range s.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case s.Counter != nil:
				got[key] = s.Counter.GetValue()
			case s.Gauge != nil:
				got[key] = s.Gauge.GetValue()
			case s.Histogram != nil:
				got[key] = float64(s.Histogram.GetSampleCount())
			default:
				got[key] = -1
			}
		}
	}
	for key, want := range map[string]float64{
		"rzone_raft_applies_total,cmd=pay,outcome=ok":              2,
		"rzone_raft_applies_total,cmd=pay,outcome=unknown_outcome": 1,
		"rzone_raft_apply_duration_seconds,cmd=pay":                3,
		"rzone_fsm_apply_batches_total":                            3,
		"rzone_fsm_apply_entries_total":                            7,
		"rzone_fsm_front_fallbacks_total":                          2,
		"rzone_test_extra_total":                                   0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	found := false
	for key, v := range got {
		if strings.HasPrefix(key, "rzone_build_info,") && v == 1 {
			found = true
		}
	}
	if !found {
		t.Error("no rzone_build_info series of 1")
	}
}
