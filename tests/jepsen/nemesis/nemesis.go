package nemesis

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Cluster is what the nemesis needs of a cluster under test.
type Cluster interface {
	// NodeIDs lists the nodes in a fixed order.
	NodeIDs() []string
	// LeaderID names the current leader.
	LeaderID(ctx context.Context) (string, error)
	Kill(id string) error
	Restart(ctx context.Context, id string) error
	Pause(id string) error
	Resume(id string) error
	// Isolate cuts id off from every other node.
	Isolate(id string) error
	// Heal removes every partition.
	Heal() error
	// HealAll undoes every fault still in place.
	HealAll(ctx context.Context) error
}

// LossyShare is the share of packets a lossy fault drops.
const LossyShare = 0.3

// LossyCluster is what the lossy fault needs besides Cluster; a Cluster
// without it fails that fault.
type LossyCluster interface {
	// Lossy makes the links between id and every other node drop a share
	// loss of their packets, both ways; Heal undoes it.
	Lossy(id string, loss float64) error
}

// ZoneCluster is what the zone faults and restart-all need besides
// Cluster; a Cluster without it fails those steps.
type ZoneCluster interface {
	// Zones lists the zones in a fixed order, none for a single zone.
	Zones() []string
	// ZoneNodeIDs lists the nodes of zone z.
	ZoneNodeIDs(z string) []string
	// KillZone kills -9 every node of zone z.
	KillZone(z string) error
	// CutZoneFromMeta cuts zone z off from the meta voters outside it and
	// returns their ids; Heal undoes it.
	CutZoneFromMeta(ctx context.Context, z string) ([]string, error)
	// KillAll kills -9 every node.
	KillAll() error
	// RestartDown restarts every node that is not running, together.
	RestartDown(ctx context.Context) error
}

// Nemesis runs a plan against a cluster, recording each fault's start and
// end in the history.
type Nemesis struct {
	C    Cluster
	Rec  *history.Recorder
	Logf func(format string, args ...any)
	// LeaseZone, when set, is the zone every partition-zone step cuts off
	// (the zone run with a faulty clock); otherwise the step's pick
	// chooses.
	LeaseZone string
	// AutoFailover says the cluster fails a lost zone over on its own
	// (failover.auto_after is set): a kill-zone step then also reconciles
	// the zone, when it was failed over, after restarting it.
	AutoFailover bool
	// LoadZone, when set, is called by a failover step a second before the
	// kill: it should start extra client load on zone's users for about d
	// and return at once.
	LoadZone func(zone string, d time.Duration)
	// PauseAuto, when set, switches the cluster's automatic failover off
	// (on false) and on again (on true). A recover step switches it off
	// for the reconciliation and until the zone is ready again.
	PauseAuto func(on bool) error
	// BackupLag, when above zero, makes a failover step cut the zone off
	// from its backup zone for that long before the kill (and heal the cut
	// after it): the zone commits writes its backup's replica has not
	// applied, the case guard marks and reconciliation exist for. It needs
	// partitions (iptables).
	BackupLag time.Duration
	// LoseReplies makes a failover-live step lose the write replies for
	// the zone's users from its cut until the store serves (the run has
	// the lost-reply fault too, and the cluster is a ReplyCluster).
	LoseReplies bool
	// SampleReplicas, when set, is called at the end of a failover's serve
	// step, while the failover store's replicas exist, to read their state
	// digests for the replicas checker.
	SampleReplicas func(label string)
	// Start is the plan's time zero: the start of the run phase, after the
	// workloads' setup. Zero means the recorder's start.
	Start time.Time

	applied map[string]int
	failed  map[string]int
}

// Counts are how many faults of each kind were applied, and how many
// failed to apply.
type Counts struct {
	Applied map[string]int `json:"applied"`
	Failed  map[string]int `json:"failed,omitempty"`
}

// Run injects every step at its time, relative to Start (or the
// recorder's start), until the plan or ctx ends, and then heals whatever is still broken. A
// fault in place when ctx ends is healed at once.
func (n *Nemesis) Run(ctx context.Context, steps []Step) Counts {
	n.applied, n.failed = map[string]int{}, map[string]int{}
	if n.Logf == nil {
		n.Logf = func(string, ...any) {}
	}
	start := n.Start
	if start.IsZero() {
		start = n.Rec.Start()
	}
	for i, s := range steps {
		wait := time.Until(start.Add(s.At))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if ctx.Err() != nil {
			break
		}
		n.step(ctx, i+1, s)
	}
	hctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.C.HealAll(hctx); err != nil {
		n.Logf("nemesis: final heal: %v", err)
	}
	return Counts{Applied: n.applied, Failed: n.failed}
}

func (n *Nemesis) step(ctx context.Context, id int, s Step) {
	switch s.Fault {
	case Failover:
		n.failover(ctx, id, s)
		return
	case FailoverLive:
		n.failoverLive(ctx, id, s)
		return
	}
	start := history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FFault, Fault: s.Fault, FaultID: id}
	heal, err := n.inject(ctx, s, &start)
	if err != nil {
		start.Error = err.Error()
		n.failed[s.Fault]++
	} else {
		n.applied[s.Fault]++
	}
	n.Rec.Add(start)
	n.Logf("nemesis: %s %s%v (%s): %v", s.Fault, zonePrefix(start.Zone), start.Targets, s.Target, errOrOK(err))
	select {
	case <-ctx.Done():
	case <-time.After(s.Duration):
	}
	healTimeout := 60 * time.Second
	if s.Fault == KillZone && n.AutoFailover {
		healTimeout = failoverHealTimeout
	}
	hctx, cancel := context.WithTimeout(context.Background(), healTimeout)
	defer cancel()
	end := history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FHeal,
		Fault: s.Fault, FaultID: id, Targets: start.Targets, Zone: start.Zone, HealStart: n.Rec.Now()}
	var herr error
	if heal != nil {
		herr = heal(hctx)
	}
	if herr != nil {
		end.Error = herr.Error()
	}
	n.Rec.Add(end)
	n.Logf("nemesis: heal %s %s%v: %v", s.Fault, zonePrefix(start.Zone), start.Targets, errOrOK(herr))
}

// inject applies step s, filling in op's targets, and returns what undoes
// it (nil when nothing needs undoing).
func (n *Nemesis) inject(ctx context.Context, s Step, op *history.Op) (func(context.Context) error, error) {
	switch s.Fault {
	case ClockSkew:
		return n.clockSkew(ctx, op)
	case Kill, Pause, Partition, Lossy, LostReply:
		target := n.target(ctx, s)
		op.Targets = []string{target}
		switch s.Fault {
		case LostReply:
			return n.lostReply(s, target, op)
		case Kill:
			return func(ctx context.Context) error { return n.C.Restart(ctx, target) }, n.C.Kill(target)
		case Pause:
			return func(context.Context) error { return n.C.Resume(target) }, n.C.Pause(target)
		case Lossy:
			lc, ok := n.C.(LossyCluster)
			if !ok {
				return nil, fmt.Errorf("%s needs a cluster that can drop packets", s.Fault)
			}
			op.Message = fmt.Sprintf("%.0f%% of packets dropped", LossyShare*100)
			return func(context.Context) error { return n.C.Heal() }, lc.Lossy(target, LossyShare)
		default:
			return func(context.Context) error { return n.C.Heal() }, n.C.Isolate(target)
		}
	}
	zc, ok := n.C.(ZoneCluster)
	if !ok {
		return nil, fmt.Errorf("%s needs a cluster that supports zone faults", s.Fault)
	}
	if s.Fault == RestartAll {
		op.Targets = n.C.NodeIDs()
		return zc.RestartDown, zc.KillAll()
	}
	zones := zc.Zones()
	if len(zones) == 0 {
		return nil, fmt.Errorf("%s needs a multi-zone cluster", s.Fault)
	}
	z := zones[s.Pick%len(zones)]
	op.Zone = z
	switch s.Fault {
	case KillZone:
		op.Targets = zc.ZoneNodeIDs(z)
		heal := zc.RestartDown
		if fc, ok := zc.(FailoverCluster); ok && n.AutoFailover {
			// A zone down longer than its lease and auto_after has been
			// failed over meanwhile; it is reconciled like a failover's.
			heal = func(ctx context.Context) error {
				if err := zc.RestartDown(ctx); err != nil {
					return err
				}
				if !n.recover(ctx, fc, op.FaultID, s.Fault, z, false) {
					return fmt.Errorf("zone %s not reconciled", z)
				}
				return nil
			}
		}
		return heal, zc.KillZone(z)
	case PartitionZone:
		if n.LeaseZone != "" {
			z = n.LeaseZone
			op.Zone = z
		}
		op.Targets = zc.ZoneNodeIDs(z)
		meta, err := zc.CutZoneFromMeta(ctx, z)
		if len(meta) > 0 {
			op.Message = "cut from meta voters " + strings.Join(meta, ",")
		}
		return func(context.Context) error { return n.C.Heal() }, err
	}
	return nil, fmt.Errorf("unknown fault %q", s.Fault)
}

// target resolves a step's target to a node id.
func (n *Nemesis) target(ctx context.Context, s Step) string {
	ids := n.C.NodeIDs()
	if s.Target == TargetLeader {
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if id, err := n.C.LeaderID(lctx); err == nil {
			return id
		}
	}
	return ids[s.Pick%len(ids)]
}

// zonePrefix is "zone Z " for a zone fault's log line, "" otherwise.
func zonePrefix(z string) string {
	if z == "" {
		return ""
	}
	return "zone " + z + " "
}

func errOrOK(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}

// Summary renders counts as "kill=2 pause=1", kinds sorted.
func (c Counts) Summary() string {
	var ks []string
	for k := range c.Applied {
		ks = append(ks, k)
	}
	for k := range c.Failed {
		if _, ok := c.Applied[k]; !ok {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	out := ""
	for _, k := range ks {
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("%s=%d", k, c.Applied[k])
		if c.Failed[k] > 0 {
			out += fmt.Sprintf("(+%d failed)", c.Failed[k])
		}
	}
	if out == "" {
		return "none"
	}
	return out
}
