package zone

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
)

// StoreMetrics are the series of the payments the failover stores a node
// leads accept (the node registers Collectors). Its methods are safe for
// concurrent use.
type StoreMetrics struct {
	payments     *prometheus.CounterVec // by zone
	firstPayment *prometheus.GaugeVec   // by zone
	isolated     prometheus.Counter
}

// NewStoreMetrics makes the series.
func NewStoreMetrics() *StoreMetrics {
	return &StoreMetrics{
		firstPayment: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rzone_failover_first_payment_seconds", Help: "Seconds from the start of a zone's failover to the first payment its failover store accepted (set by the store's leader).",
		}, []string{"zone"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzone_failover_payments_total", Help: "Payments accepted by a failover store this node leads.",
		}, []string{"zone"}),
		isolated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzone_isolated_refusals_total", Help: "State-type writes refused with account_isolated by a failover store this node leads.",
		}),
	}
}

// Collectors are the series, for the node's registry.
func (m *StoreMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.firstPayment, m.payments, m.isolated}
}

// NotePayments counts the payments a failover store h accepted (cmds and
// their results res, as applied), and the time from the failover's start
// to its first one, as meta knows the failover; other groups are ignored.
func (m *StoreMetrics) NotePayments(h *Hosted, meta *fsm.Meta, log *slog.Logger, cmds []fsm.Command, res []fsm.Result) {
	if !h.Store() {
		return
	}
	for i := range cmds {
		switch {
		case cmds[i].Type == fsm.CmdPay && res[i].Code == fsm.OK && !res[i].Replay:
			zi, ok := meta.State().StoreOf(h.Name())
			if !ok {
				continue
			}
			m.payments.WithLabelValues(zi.Name).Inc()
			if h.FirstPayment() && zi.Failover != nil {
				d := time.Since(time.UnixMilli(zi.Failover.Started))
				m.firstPayment.WithLabelValues(zi.Name).Set(d.Seconds())
				log.Warn("first payment accepted by the failover store", "zone", zi.Name, "store", h.Name(), "since_failover_start", d)
			}
		case res[i].Code == fsm.Isolated:
			m.isolated.Inc()
		}
	}
}
