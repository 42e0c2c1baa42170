package fsm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

// TestMetaRoutingInvariants walks the meta state machine through random
// sequences of the commands that route shards (lease renewals, failovers,
// promotions, recoveries and their ends, shard moves and their finishes,
// guard-ready marks), with plausible and implausible arguments, and checks
// after every command the rules the whole of failover and shard moves rest
// on (checkRouting). A command the state machine refuses must change
// nothing; one it takes must keep the rules. The walks are seeded: a
// failure names its seed and the commands that led to it.
func TestMetaRoutingInvariants(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	for seed := range uint64(seeds) {
		if v := walkMeta(seed, 250); v != "" {
			t.Fatalf("seed %d: %s", seed, v)
		}
	}
}

// walkMeta runs one seeded walk of steps commands and returns the first
// broken rule with the commands before it, or "".
func walkMeta(seed uint64, steps int) string {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	zones := []string{"A", "B", "C"}
	m := NewMeta(nil)
	var idx uint64
	apply := func(c MetaCmd) MetaResult {
		idx++
		return m.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: EncodeMeta(c)}).(MetaResult)
	}
	apply(MetaCmd{Type: MetaInit, Time: 1, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "C"}, {Name: "C", Backup: "A"}}})
	now := int64(1000)
	var history []string
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	for step := 0; step < steps; step++ {
		prev := m.State()
		// Targets: the zones, every store group a zone ever had, and a
		// name that is neither.
		targets := append(slices.Clone(zones), "X")
		for _, z := range prev.Zones {
			if z.Failover != nil && z.Failover.Group != "" {
				targets = append(targets, z.Failover.Group)
			}
		}
		// A shard: most often one of a store, where the rules bite.
		shard := rng.IntN(NumShards)
		if rng.IntN(2) == 0 {
			for i, r := range prev.Shards {
				if _, ok := prev.StoreOf(r.Zone); ok && rng.IntN(4) == 0 {
					shard = i
					break
				}
			}
		}
		now += int64(rng.IntN(2500))
		z := pick(zones)
		var c MetaCmd
		switch rng.IntN(10) {
		case 0, 1:
			c = MetaCmd{Type: MetaRenewLease, Zone: pick(targets), Holder: "n1", Term: uint64(1 + rng.IntN(4)), DurationMs: 3000}
		case 2:
			c = MetaCmd{Type: MetaFailover, Zone: z, Auto: rng.IntN(2) == 0, OpID: fmt.Sprintf("%06x", rng.IntN(1<<24))}
		case 3:
			now += 4000 // past the lease, most often
			c = MetaCmd{Type: MetaPromote, Zone: z, Group: fmt.Sprintf("%s-f%d", z, 1+rng.IntN(3)), Seed: "s1", Blacklist: []uint64{uint64(rng.IntN(1000))}}
		case 4:
			c = MetaCmd{Type: MetaRecover, Zone: z, OpID: fmt.Sprintf("%06x", rng.IntN(1<<24))}
		case 5:
			g := pick(targets)
			if zi, ok := prev.ZoneOf(z); ok && zi.Failover != nil && rng.IntN(3) > 0 {
				g = zi.Failover.Group
			}
			c = MetaCmd{Type: MetaFinishRecover, Zone: z, Group: g, Report: &FailoverReport{}}
		case 6, 7:
			c = MetaCmd{Type: MetaMoveShard, Shard: shard, Target: pick(targets), OpID: fmt.Sprintf("%06x", rng.IntN(1<<24))}
		case 8:
			target := pick(targets)
			if r := prev.Shards[shard]; r.Target != "" && rng.IntN(3) > 0 {
				target = r.Target
			}
			c = MetaCmd{Type: MetaFinishMove, Shard: shard, Target: target}
		case 9:
			c = MetaCmd{Type: MetaGuardReady, Zone: z}
		}
		c.Time = now
		res := apply(c)
		history = append(history, fmt.Sprintf("%d: %+v → err %q", idx, c, res.Err))
		if len(history) > 12 {
			history = history[1:]
		}
		if v := checkRouting(prev, m.State(), c, res); v != "" {
			return fmt.Sprintf("%s\nlast commands:\n  %s", v, joinLines(history))
		}
	}
	return ""
}

// checkRouting checks one meta command's effect on the shard routes:
//   - a refused command changes no route;
//   - every shard routes to a zone, or to the failover store its zone is
//     failed over to (in phase failover or reconciling), never to a store
//     of an older failover or to a name that is neither;
//   - a failed-over zone (phase failover) owns no shard: the store does;
//   - route epochs never go back, and a shard that changes hands gets a
//     new epoch (the one its new owner fences writes with);
//   - a shard leaves a failover store only when the zone's recovery ends
//     (MetaFinishRecover, once the store is merged) and then only for its
//     home zone: any other way sends it home, or elsewhere, unmerged, and
//     the payments the store took are missing there.
func checkRouting(prev, next MetaState, c MetaCmd, res MetaResult) string {
	if res.Err != "" || res.Invalid {
		for i := range prev.Shards {
			if prev.Shards[i] != next.Shards[i] {
				return fmt.Sprintf("refused command changed shard %d: %+v → %+v", i, prev.Shards[i], next.Shards[i])
			}
		}
		return ""
	}
	for i, r := range next.Shards {
		p := prev.Shards[i]
		if r.Epoch < p.Epoch {
			return fmt.Sprintf("shard %d epoch went back: %+v → %+v", i, p, r)
		}
		if r.Zone != p.Zone && r.Epoch == p.Epoch {
			return fmt.Sprintf("shard %d changed hands without a new epoch: %+v → %+v", i, p, r)
		}
		if zi, ok := next.ZoneOf(r.Zone); ok {
			if zi.PhaseOf() == PhaseFailover {
				return fmt.Sprintf("shard %d routes to zone %s, which is failed over", i, r.Zone)
			}
		} else if _, ok := next.StoreOf(r.Zone); !ok {
			return fmt.Sprintf("shard %d routes to %q: neither a zone nor a live failover store", i, r.Zone)
		}
		if r.Zone == p.Zone {
			continue
		}
		if home, ok := prev.StoreOf(p.Zone); ok {
			if c.Type != MetaFinishRecover || c.Zone != home.Name || r.Zone != home.Name {
				return fmt.Sprintf("shard %d left failover store %s (of zone %s, phase %s) for %s by a command of type %d, not by the end of the recovery",
					i, p.Zone, home.Name, home.PhaseOf(), r.Zone, c.Type)
			}
		}
	}
	return ""
}

func joinLines(lines []string) string {
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}
