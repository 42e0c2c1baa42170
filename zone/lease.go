package zone

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/internal/inject"
)

// monoNow is the monotonic clock leases are measured with (clock.Mono):
// a wall-clock jump cannot stretch a lease.
func monoNow() int64 { return clock.Mono() }

// Lease is a group's ownership lease as this node holds it: when it ends by
// this node's monotonic clock (clock.Mono), in nanoseconds (cluster mode).
// Its zero value holds no lease. Safe for concurrent use.
type Lease struct {
	until atomic.Int64
}

// Until is when the lease ends by clock.Mono (0: never granted here).
func (l *Lease) Until() int64 { return l.until.Load() }

// Valid reports whether the lease lasts now by this node's clock.
func (l *Lease) Valid() bool {
	return inject.On(inject.NoLeaseFence) || monoNow() < l.until.Load()
}

// extend moves the lease's end to until unless it ends later already.
func (l *Lease) extend(until int64) {
	for {
		cur := l.until.Load()
		if until <= cur || l.until.CompareAndSwap(cur, until) {
			break
		}
	}
}

// LeaseValid reports whether group h may accept writes now: always when
// standalone; in cluster mode while its ownership lease lasts by this
// node's clock.
func LeaseValid(host Host, h Group) bool {
	return !host.Clustered() || h.Lease().Valid()
}

// LeaseKeeper renews the ownership leases of the groups a node leads and
// serves writes for, and watches the grants of every zone's lease.
type LeaseKeeper struct {
	host     Host
	cfg      DriverConfig
	log      *slog.Logger
	renewals *prometheus.CounterVec // by outcome: ok, failed
	// grants is when this node first saw each zone's latest lease grant:
	// the promotion wait counts from it.
	grants grantWatch
}

// NewLeaseKeeper makes the lease keeper of host; renewals counts the
// renewals by outcome ("ok", "failed").
func NewLeaseKeeper(host Host, cfg DriverConfig, renewals *prometheus.CounterVec) *LeaseKeeper {
	return &LeaseKeeper{host: host, cfg: cfg, log: cfg.Logger, renewals: renewals}
}

// RenewAll renews the ownership lease of every group this node leads and
// serves writes for: its own zone, and a failover store it hosts (the
// node's lease loop calls it every LeaseRenew). A lease counts from before
// the request was sent, 5% short.
func (k *LeaseKeeper) RenewAll() {
	st := k.host.Meta().State()
	if !st.Initialized {
		return
	}
	for _, l := range st.Leases {
		k.grants.seen(l)
	}
	for _, h := range k.host.Groups() {
		// A failover store gets no lease before its CmdFailover.
		if h.Voter() && h.Replica().IsLeader() && (!h.Store() || h.Ready()) {
			k.Renew(h)
		}
	}
}

// Renew renews h's ownership lease once.
func (k *LeaseKeeper) Renew(h Group) {
	start := monoNow()
	ctx, cancel := context.WithTimeout(context.Background(), k.cfg.LeaseDuration/2)
	res, err := k.host.MetaApply(ctx, fsm.MetaCmd{Type: fsm.MetaRenewLease, Zone: h.Name(), Holder: k.cfg.NodeID,
		Term: h.Replica().Raft().CurrentTerm(), DurationMs: k.cfg.LeaseDuration.Milliseconds()})
	cancel()
	if err != nil || res.Err != "" {
		k.renewals.WithLabelValues("failed").Inc()
		k.log.Debug("lease renewal failed", "group", h.Name(), "err", err, "refused", res.Err)
		return
	}
	k.renewals.WithLabelValues("ok").Inc()
	until := start + int64(k.cfg.LeaseDuration-k.cfg.LeaseDuration/20)
	h.Lease().extend(until)
}

// grantWatch remembers, per zone, the latest lease grant count this node
// has seen in its meta replica and when it first saw it, by its monotonic
// clock. A grant is applied before any node can see it, and its holder
// counts the lease from before it asked; so the holder's lease has ended
// once a grant's full duration has passed since this node saw it, whatever
// any wall clock says. Every node watches (on each lease tick, and when it
// is about to decide), so a new meta leader waits from its own sighting.
// Safe for concurrent use.
type grantWatch struct {
	mu    sync.Mutex
	zones map[string]grantSeen
}

type grantSeen struct {
	grants uint64
	at     int64 // monoNow() when first seen
}

// seen records l's grant count if it is new and returns when this node
// first saw it.
func (g *grantWatch) seen(l fsm.Lease) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.zones[l.Zone]; ok && s.grants == l.Grants {
		return s.at
	}
	if g.zones == nil {
		g.zones = map[string]grantSeen{}
	}
	s := grantSeen{grants: l.Grants, at: monoNow()}
	g.zones[l.Zone] = s
	return s.at
}

// Wait is how long until zone l.Zone's lease, as l shows it, has
// certainly ended, by this node's monotonic clock: the grant's full
// duration (the holder counts 5% less) plus margin from when this node saw
// the grant. A zone that was never granted a lease has none to wait for.
// A restarted node has seen nothing yet: it waits the whole duration from
// its first look.
func (k *LeaseKeeper) Wait(l fsm.Lease, margin time.Duration) time.Duration {
	if l.Grants == 0 && l.Until == 0 {
		return 0
	}
	d := time.Duration(l.DurationMs) * time.Millisecond
	if d <= 0 { // granted before leases carried their duration
		d = k.cfg.LeaseDuration
	}
	return time.Duration(k.grants.seen(l) + int64(d+margin) - monoNow())
}
