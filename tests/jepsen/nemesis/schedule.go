// Package nemesis plans and injects the faults of a fault test: kill -9 and
// restart, SIGSTOP and SIGCONT, network partitions and lossy links, each aimed at the
// leader or at a random node; on a multi-zone cluster also kill -9 of a
// whole zone, a zone cut off from the meta group, a zone lost, failed over
// and reconciled, and a restart of every node. A plan is a pure function of a seed, so a
// failing run can be replayed; each fault's start and end go into the
// history.
package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Fault kinds.
const (
	Kill      = "kill"      // kill -9 a node, restart it at the end
	Pause     = "pause"     // SIGSTOP a node, SIGCONT at the end
	Partition = "partition" // cut a node off from the others, heal at the end
	// Lossy makes a node's links to every other node drop LossyShare of
	// their packets both ways (a bad network, not a cut one), healed at
	// the end. Delays would need tc netem, which this kernel lacks.
	Lossy = "lossy"
	// KillZone kills -9 every node of a zone and restarts them at the end.
	KillZone = "kill-zone"
	// PartitionZone cuts a zone's nodes off from the meta voters outside
	// it, so its lease cannot be renewed; healed at the end.
	PartitionZone = "partition-zone"
	// RestartAll kills -9 every node, and restarts them all at the end.
	RestartAll = "restart-all"
	// Failover kills -9 a whole zone, waits for the cluster to fail it over
	// to its backup zone on its own (the runner turns automatic failover
	// on), lets the workloads run against the failover store for the
	// step's Duration, restarts the zone and reconciles it (POST
	// /v1/zones/{zone}/recover). Each of these is a fault-step entry.
	Failover = "failover"
	// FailoverLive is an operator failover of a zone that is alive and
	// under load: extra load on the zone's users, the zone's replication to
	// its backup zone cut (raft only: guard marks and leases still flow),
	// POST /v1/zones/{zone}/failover while the zone still holds its lease,
	// the cut healed once the store serves, the workloads run against the
	// store for the step's Duration, then the recover. Nothing is killed:
	// the zone's leader goes on taking writes until its lease ends. With
	// LostReply in the run too, every write reply for the zone's users of
	// even id is lost from the failover command until the store serves, so
	// their clients retry those keys in the failover store; the other users'
	// writes are answered, as writes a live zone acknowledged.
	FailoverLive = "failover-live"
	// LostReply lets writes through one node (the leader or a random one)
	// reach the cluster and be applied, and loses their replies on the way
	// back (the runner's proxy closes the client's connection), so the
	// clients see unknown outcomes and retry the same keys.
	LostReply = "lost-reply"
)

// Kinds lists every fault kind.
var Kinds = []string{Kill, Pause, Partition, Lossy, KillZone, PartitionZone, RestartAll, Failover, FailoverLive, LostReply, ClockSkew}

// ZoneKinds are the kinds that need a multi-zone cluster.
var ZoneKinds = []string{KillZone, PartitionZone, Failover, FailoverLive, ClockSkew}

// FailoverKinds are the kinds that fail a zone over and reconcile it.
var FailoverKinds = []string{Failover, FailoverLive}

// Steps of a Failover fault, as named in fault-step entries and counted
// (as "failover.kill", …) in Counts.
const (
	StepLag      = "lag"      // the zone cut from its backup zone, killed, the cut healed
	StepKill     = "kill"     // kill -9 of every node of the zone
	StepFailover = "failover" // until the zone's phase is failover
	StepServe    = "serve"    // the workloads run against the failover store
	StepRestart  = "restart"  // the zone's nodes restarted and healthy
	StepRecover  = "recover"  // reconciliation, until the phase is normal
)

// Targets of a step.
const (
	TargetLeader = "leader" // whoever leads when the fault starts
	TargetRandom = "random" // a node chosen by Step.Pick
)

// Step is one planned fault.
type Step struct {
	// At is when the fault starts, from the start of the run.
	At time.Duration `json:"at"`
	// Duration is how long it lasts before it is healed.
	Duration time.Duration `json:"duration"`
	Fault    string        `json:"fault"`
	Target   string        `json:"target"`
	// Pick chooses the node of a random target: node Pick mod n.
	Pick int `json:"pick"`
}

func (s Step) String() string {
	return fmt.Sprintf("%6.1fs +%.1fs %s %s", s.At.Seconds(), s.Duration.Seconds(), s.Fault, s.Target)
}

// Config shapes a plan.
type Config struct {
	// Faults are the kinds to inject; empty plans nothing.
	Faults []string
	// Total is the length of the run.
	Total time.Duration
	// Interval is the time between the starts of two faults. Zero means
	// 10s.
	Interval time.Duration
	// Duration is how long each fault lasts. Zero means 3s.
	Duration time.Duration
	// Quiet is the fault-free time at the start and at the end of the run,
	// so the workload sees a healthy cluster before and after. Zero means
	// 2s.
	Quiet time.Duration
}

// ParseKinds splits a comma-separated list of fault kinds, checking each.
func ParseKinds(s string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" || k == "none" {
			continue
		}
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("unknown nemesis %q (want some of %s)", k, strings.Join(Kinds, ","))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Plan draws a schedule from seed: faults every Interval (with up to a
// fifth of it as jitter), cycling through the kinds in a shuffled order so
// each kind comes before any repeats, half aimed at the leader. No fault
// starts before Quiet or ends after Total − Quiet.
func Plan(seed int64, cfg Config) []Step {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 3 * time.Second
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = 2 * time.Second
	}
	if len(cfg.Faults) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973))
	var steps []Step
	var cycle []string
	for at := cfg.Quiet; ; at += cfg.Interval {
		start := at + time.Duration(rng.Int64N(int64(cfg.Interval/5)+1))
		if start+cfg.Duration > cfg.Total-cfg.Quiet {
			break
		}
		if len(cycle) == 0 {
			cycle = slices.Clone(cfg.Faults)
			rng.Shuffle(len(cycle), func(i, j int) { cycle[i], cycle[j] = cycle[j], cycle[i] })
		}
		s := Step{At: start, Duration: cfg.Duration, Fault: cycle[0], Target: TargetRandom, Pick: rng.IntN(1 << 30)}
		cycle = cycle[1:]
		if rng.IntN(2) == 0 {
			s.Target = TargetLeader
		}
		steps = append(steps, s)
	}
	return steps
}
