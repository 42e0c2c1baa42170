package zone

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
)

// Zone failover and reconciliation (docs/DESIGN.md, Failover).
//
// Every step is a state of the meta group, so whichever node leads it
// drives the steps, and a driver that dies is replaced by the next meta
// leader, which picks up where the meta state stands:
//
//   - failing_over: once the zone's last lease has ended, the driver reads
//     the zone's guard marks from its backup zone's leader (the blacklist)
//     and picks the backup node whose async follower has applied the most
//     (at least as far as any mark clear rested on), then MetaPromote
//     routes the zone's shards to a new failover group under a new epoch.
//   - failover: the seed node promotes its follower into the group
//     (Promote), its leader writes the blacklist and stand-in limit
//     (CmdFailover), adds the other backup nodes as voters, takes the shards
//     and serves the zone's users. The zone's own nodes get no lease. (The
//     node hosts its stores itself: store.go.)
//   - reconciling: the store releases the shards; the driver merges them
//     into the zone shard by shard (CmdMerge, idempotent per shard), then
//     MetaFinishRecover routes them back; the backup nodes retire the store.

// Config keys of failover.
const (
	// ConfigAutoFailover, a duration ("500ms"), makes the meta leader fail
	// a zone over once its lease has been expired that long and none of
	// its nodes answers the meta leader (a zone cut off from the meta
	// group's quorum but alive only stops writing). Unset or "0": only by
	// command.
	ConfigAutoFailover = "failover.auto_after"
	// ConfigStandinPercent is the stand-in limit of failover stores, in
	// percent of a user's credit line (default fsm.DefaultStandinPercent).
	ConfigStandinPercent = "failover.standin_pct"
)

// LeaseMargin is how much longer than a zone's last lease grant lasts the
// driver waits, from when its node saw the grant by its own monotonic
// clock, before moving the zone's shards (LeaseKeeper.Wait). The holder
// already counts 5% short, which covers clock rates apart by that much.
const LeaseMargin = 100 * time.Millisecond

// DriverSet runs at most one driver per key (a zone, an operation) at a
// time. Its zero value is ready.
type DriverSet struct {
	mu      sync.Mutex
	running map[string]bool
}

// Start reports whether a driver of z may start now (none runs), and if
// so records it as running until Done.
func (d *DriverSet) Start(z string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running == nil {
		d.running = map[string]bool{}
	}
	if d.running[z] {
		return false
	}
	d.running[z] = true
	return true
}

// Done records that z's driver has ended.
func (d *DriverSet) Done(z string) {
	d.mu.Lock()
	delete(d.running, z)
	d.mu.Unlock()
}

// Steps of a driver that TestHoldDriver can hold it at.
const (
	// HoldPromote is a promotion's last step, before its MetaPromote.
	HoldPromote = "promote"
	// HoldMerged follows each shard a reconciliation merges.
	HoldMerged = "merged"
)

// TestHoldDriver, when set (tests only), keeps the failover driver on node
// from going past step of zone z while it returns true, as if it hung
// there: before a promotion's MetaPromote (HoldPromote, merged 0), and
// after each shard a reconciliation merges (HoldMerged, merged counting
// this run's merged shards). The driver ends when its node stops.
var TestHoldDriver atomic.Pointer[func(node, z, step string, merged int) bool]

// hold waits while TestHoldDriver holds step of zone z on this node.
func (d *FailoverDriver) hold(ctx context.Context, z, step string, merged int) error {
	for {
		h := TestHoldDriver.Load()
		if h == nil || !(*h)(d.cfg.NodeID, z, step, merged) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// FailoverMetrics are the failover driver's series (the node registers
// them).
type FailoverMetrics struct {
	Phase            *prometheus.GaugeVec // by zone, phase
	ReconcileSeconds *prometheus.GaugeVec // by zone
}

// FailoverDriver drives, on the meta leader, automatic failovers and the
// steps of failovers and reconciliations under way.
type FailoverDriver struct {
	host    FailoverHost
	cfg     DriverConfig
	log     *slog.Logger
	leases  *LeaseKeeper
	metrics FailoverMetrics
	drivers DriverSet
}

// NewFailoverDriver makes the failover driver of host; leases is the
// node's lease keeper (the promotion waits out a zone's last grant as this
// node saw it).
func NewFailoverDriver(host FailoverHost, cfg DriverConfig, leases *LeaseKeeper, m FailoverMetrics) *FailoverDriver {
	return &FailoverDriver{host: host, cfg: cfg, log: cfg.Logger, leases: leases, metrics: m}
}

// Tick is a round of the node's failover loop: on the meta leader, the
// automatic failovers and the steps of failovers and reconciliations under
// way (Drive), and on every node the upkeep of its failover stores in
// zones (at once when one is still to be opened or set up).
func (d *FailoverDriver) Tick(zones *ReplicaSet) {
	st := d.host.Meta().State()
	if !st.Initialized {
		return
	}
	d.ExportPhases(st)
	if zones.StoreWork(st) {
		if err := zones.ConvergeStores(st); err != nil {
			d.log.Debug("failover store", "err", err)
		}
	}
	d.Drive(st)
}

// CheckZoneCommand refuses a failover (typ fsm.MetaFailover) or a
// recovery (fsm.MetaRecover) of zone name that st shows is not to be
// applied: the zone must exist, and a zone in its normal phase whose lease
// is valid looks healthy: failing it over takes its writes away, so the
// operator must say so (force, "true"; "" is false).
func CheckZoneCommand(st fsm.MetaState, typ byte, name, force string) *api.Error {
	zi, ok := st.ZoneOf(name)
	if !ok {
		return api.Errorf(api.CodeNotFound, "no zone %q", name)
	}
	if typ != fsm.MetaFailover || zi.PhaseOf() != fsm.PhaseNormal {
		return nil
	}
	forced, err := strconv.ParseBool(cmp.Or(force, "false"))
	if err != nil {
		return api.Errorf(api.CodeInvalidArgument, "force %q: want true or false", force)
	}
	if l, ok := st.Lease(name); ok && !forced && clock.Now().UnixMilli() <= l.Until {
		return api.Errorf(api.CodeLeaseValid, "zone %s holds a valid lease (until %s): fail it over anyway with force=true (rzone zone failover %s --force)",
			name, time.UnixMilli(l.Until).UTC().Format(time.RFC3339Nano), name)
	}
	return nil
}

// ExportPhases sets the phase series of every zone in st.
func (d *FailoverDriver) ExportPhases(st fsm.MetaState) {
	for _, z := range st.Zones {
		for _, p := range []string{fsm.PhaseNormal, fsm.PhaseFailingOver, fsm.PhaseFailover, fsm.PhaseReconciling} {
			v := 0.0
			if z.ShownPhase() == p {
				v = 1
			}
			d.metrics.Phase.WithLabelValues(z.Name, p).Set(v)
		}
	}
}

// Drive, on the meta leader, starts the failovers due (autoFailover) and a
// driver for every zone failing over or reconciling that has none yet.
func (d *FailoverDriver) Drive(st fsm.MetaState) {
	if !d.host.MetaLeader() {
		return
	}
	d.autoFailover(st)
	for _, z := range st.Zones {
		var step func(context.Context, string) error
		kind := fsm.OpFailover
		switch z.PhaseOf() {
		case fsm.PhaseFailingOver:
			step = d.promoteStep
		case fsm.PhaseReconciling:
			step, kind = d.reconcileStep, fsm.OpRecover
		default:
			continue
		}
		if !d.drivers.Start(z.Name) {
			continue
		}
		name := z.Name
		d.host.Go(func() {
			defer d.drivers.Done(name)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			go func() {
				select {
				case <-d.host.Stopping():
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := step(ctx, name); err != nil {
				d.log.Warn("failover step", "zone", name, "err", err)
				// Shown on the operation; the next round retries.
				if o, ok := d.host.Meta().State().ActiveOp(kind, name); ok && ctx.Err() == nil {
					d.host.NoteOp(ctx, o.ID, o.Phase, o.Progress, o.Detail, err)
				}
			}
		})
	}
}

// autoFailover starts the failover of every zone whose lease has been
// expired for the configured time.
func (d *FailoverDriver) autoFailover(st fsm.MetaState) {
	it, ok := st.ConfigValue(ConfigAutoFailover)
	if !ok || it.Value == "" {
		return
	}
	after, err := time.ParseDuration(it.Value)
	if err != nil || after <= 0 {
		return
	}
	now := clock.Now().UnixMilli()
	for _, z := range st.Zones {
		if z.PhaseOf() != fsm.PhaseNormal || z.Backup == "" || z.Backup == z.Name {
			continue
		}
		l, ok := st.Lease(z.Name)
		if !ok || l.Until == 0 || now <= l.Until+after.Milliseconds() {
			continue
		}
		if b, _ := st.ZoneOf(z.Backup); b.PhaseOf() != fsm.PhaseNormal {
			continue
		}
		if d.zoneAlive(st, z.Name) {
			// Its lease lapsed but a node of it answers: cut off from
			// the meta group's quorum, or its renewals failed while the
			// meta group changed leader, rather than lost. It stops
			// writing on its own (the lease fence) until it renews;
			// failing it over is the operator's call.
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ApplyTimeout)
		res, err := d.host.MetaApply(ctx, fsm.MetaCmd{Type: fsm.MetaFailover, Zone: z.Name, Auto: true, OpID: d.host.NewOpID()})
		cancel()
		if err == nil && res.Err == "" {
			d.log.Warn("zone lease expired: automatic failover", "zone", z.Name, "lease_until", l.Until, "after", after)
		}
	}
}

// zoneAlive reports whether any node of zone z answers on its API now
// (any reply counts; a refused or timed-out connection does not).
func (d *FailoverDriver) zoneAlive(st fsm.MetaState, z string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	answered := make(chan bool, len(st.Nodes))
	asked := 0
	for _, nd := range st.Nodes {
		if nd.Zone != z {
			continue
		}
		asked++
		go func(addr string) {
			answered <- d.host.Answers(ctx, addr)
		}(nd.HTTPAddr)
	}
	for i := 0; i < asked; i++ {
		if <-answered {
			return true
		}
	}
	return false
}

// promoteStep routes a failing zone's shards to a failover store once the
// zone's lease has ended.
func (d *FailoverDriver) promoteStep(ctx context.Context, z string) error {
	for {
		st := d.host.Meta().State()
		zi, _ := st.ZoneOf(z)
		if zi.PhaseOf() != fsm.PhaseFailingOver {
			return nil
		}
		op, _ := st.ActiveOp(fsm.OpFailover, z)
		l, _ := st.Lease(z)
		wait := d.leases.Wait(l, LeaseMargin)
		if wait > 0 {
			d.host.NoteOp(ctx, op.ID, "waiting_lease", 20, "waiting for the zone's last lease to end (it cannot commit after that)", nil)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(wait, time.Second)):
			}
			continue
		}
		d.host.NoteOp(ctx, op.ID, "reading_guard", 40, "reading the zone's guard marks in "+zi.Backup, nil)
		var gi GuardInfo
		if err := d.host.RetryZone(ctx, zi.Backup, func(addr string) error {
			return d.host.GetJSON(ctx, addr, "/v1/internal/guard?zone="+z, &gi)
		}); err != nil {
			return fmt.Errorf("read the guard marks of %s in %s: %w", z, zi.Backup, err)
		}
		seed, applied := "", uint64(0)
		for node, reps := range ReplicasOf(ctx, d.host, zi.Backup) {
			for _, rs := range reps {
				if rs.Group == "zone/"+z && rs.AppliedIndex >= gi.Watermark && (seed == "" || rs.AppliedIndex > applied || (rs.AppliedIndex == applied && node < seed)) {
					seed, applied = node, rs.AppliedIndex
				}
			}
		}
		if seed == "" {
			d.log.Warn("no replica of the zone in its backup has applied as far as its guard clears; waiting", "zone", z, "backup", zi.Backup, "watermark", gi.Watermark)
			d.host.NoteOp(ctx, op.ID, "waiting_replica", 50, fmt.Sprintf("waiting for a replica of %s in %s to apply up to index %d", z, zi.Backup, gi.Watermark), nil)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		group := fmt.Sprintf("%s-f%d", z, st.Epoch+1)
		d.host.NoteOp(ctx, op.ID, "promoting", 70, fmt.Sprintf("routing the shards to failover store %s seeded by %s (%d accounts blacklisted)", group, seed, len(gi.Marks)), nil)
		if err := d.hold(ctx, z, HoldPromote, 0); err != nil {
			return err
		}
		res, err := d.host.MetaApplyIdempotent(ctx, fsm.MetaCmd{Type: fsm.MetaPromote, Zone: z, Group: group, Seed: seed, Blacklist: gi.Marks, LeaseGrants: &l.Grants})
		if err != nil {
			return err
		}
		if res.Err != "" {
			return errors.New(res.Err)
		}
		d.log.Warn("zone failed over", "zone", z, "store", group, "seed", seed, "seed_applied", applied,
			"blacklist", len(gi.Marks), "watermark", gi.Watermark)
		return nil
	}
}
