package gossip

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Prometheus collectors of one Gossip. They are not
// registered anywhere; Collectors hands them out.
type metrics struct {
	members *membersCollector
	events  *prometheus.CounterVec
	dropped prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		members: &membersCollector{desc: prometheus.NewDesc(
			"rzone_gossip_members",
			"Members this node knows of, by state (alive, suspect, dead, left); dead and left ones are kept for ForgetAfter.",
			[]string{"state"}, nil)},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_gossip_events_total",
			Help: "Membership events this node observed, by kind, including those dropped from a full Events channel.",
		}, []string{"kind"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzone_gossip_dropped_events_total",
			Help: "Membership events dropped because the Events channel was full.",
		}),
	}
	for _, k := range eventKinds {
		m.events.WithLabelValues(string(k))
	}
	return m
}

// membersCollector counts the members of a view by state when scraped, so
// the gauge is never stale.
type membersCollector struct {
	desc *prometheus.Desc
	view *view
}

var _ prometheus.Collector = (*membersCollector)(nil)

func (c *membersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *membersCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[State]int{StateAlive: 0, StateSuspect: 0, StateDead: 0, StateLeft: 0}
	for _, m := range c.view.list() {
		counts[m.State]++
	}
	for _, s := range []State{StateAlive, StateSuspect, StateDead, StateLeft} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
