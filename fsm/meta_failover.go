package fsm

import (
	"fmt"
	"slices"

	"github.com/rzonedb/rzone/internal/api"
)

// Zone failover phases (docs/DESIGN.md, Failover). A zone goes normal →
// failing_over (the command is taken; its lease may no longer be renewed)
// → failover (its shards are routed to its failover store, once its last
// lease has ended) → reconciling (the store has released the shards and is
// being merged back) → normal.
const (
	PhaseNormal      = "normal"
	PhaseFailingOver = "failing_over"
	PhaseFailover    = "failover"
	PhaseReconciling = "reconciling"
)

// RecoverGraceMs is how long after a reconciliation a zone's leader has to
// renew its lease before an automatic failover may count it lost.
const RecoverGraceMs = 5000

// FailoverState is a zone's latest failover.
type FailoverState struct {
	// Group is the failover store's Raft group (a new name every time:
	// zone-"-f"-epoch) and Seed the backup node whose async follower
	// became it.
	Group string `json:"group,omitempty"`
	Seed  string `json:"seed,omitempty"`
	Auto  bool   `json:"auto,omitempty"`
	// Started is when the failover was asked for; LeaseUntil the end of the
	// zone's last lease (no write of the zone's can commit after it);
	// Promoted when the shards were routed to the store; Recovering and
	// Recovered when reconciliation began and ended (Unix ms, meta time).
	Started    int64 `json:"started"`
	LeaseUntil int64 `json:"lease_until"`
	Promoted   int64 `json:"promoted,omitempty"`
	Recovering int64 `json:"recovering,omitempty"`
	Recovered  int64 `json:"recovered,omitempty"`
	// Home is when the zone's leader first renewed its lease after the
	// shards were routed home: from then on the zone serves them again.
	Home int64 `json:"home,omitempty"`
	// Blacklist is the accounts marked in the backup zone when the store
	// was made: state-type writes to them wait for reconciliation.
	Blacklist []uint64        `json:"blacklist,omitempty"`
	Report    *FailoverReport `json:"report,omitempty"`
}

// FailoverReport sums up a reconciliation.
type FailoverReport = api.ReconcileReport

func (s *MetaState) zoneRef(name string) *ZoneInfo {
	for i := range s.Zones {
		if s.Zones[i].Name == name {
			return &s.Zones[i]
		}
	}
	return nil
}

// PhaseOf is a zone's phase, PhaseNormal when unset.
func (z ZoneInfo) PhaseOf() string {
	if z.Phase == "" {
		return PhaseNormal
	}
	return z.Phase
}

// ShownPhase is the phase to show for the zone: its phase, except that a
// zone whose shards were routed home by a reconciliation is shown
// reconciling until its leader holds its lease again (until then its
// reads and writes answer lease_expired).
func (z ZoneInfo) ShownPhase() string {
	p := z.PhaseOf()
	if p == PhaseNormal && z.Failover != nil && z.Failover.Recovered != 0 && z.Failover.Home == 0 {
		return PhaseReconciling
	}
	return p
}

// noteHome records, on a renewal of a zone's lease, that a zone back from
// a failover serves again.
func (s *MetaState) noteHome(c *MetaCmd) {
	if z := s.zoneRef(c.Zone); z != nil && z.PhaseOf() == PhaseNormal && z.Failover != nil && z.Failover.Recovered != 0 && z.Failover.Home == 0 {
		z.Failover.Home = c.Time
		s.finishOp(c, OpRecover, c.Zone, "the zone serves its shards again")
	}
}

// failover starts a failover of c.Zone. Asking again while one is under
// way changes nothing.
func (s *MetaState) failover(c *MetaCmd) MetaResult {
	z := s.zoneRef(c.Zone)
	switch {
	case z == nil:
		return MetaResult{Err: fmt.Sprintf("no zone %q", c.Zone)}
	case z.Backup == "" || z.Backup == z.Name:
		return MetaResult{Err: fmt.Sprintf("zone %s has no backup zone to fail over to", c.Zone)}
	case z.PhaseOf() == PhaseFailingOver:
		return MetaResult{Epoch: s.Epoch, Op: s.existingOp(c, Op{Kind: OpFailover, Target: c.Zone, Phase: PhaseFailingOver})}
	case z.PhaseOf() == PhaseFailover:
		return MetaResult{Epoch: s.Epoch, Op: s.existingOp(c, Op{Kind: OpFailover, Target: c.Zone, Phase: OpDone})}
	case z.PhaseOf() == PhaseReconciling:
		return MetaResult{Err: fmt.Sprintf("zone %s is being reconciled; fail it over again once that ends", c.Zone)}
	}
	if b, _ := s.zone(z.Backup); b.PhaseOf() != PhaseNormal {
		return MetaResult{Err: fmt.Sprintf("backup zone %s of %s is %s itself", z.Backup, c.Zone, b.PhaseOf())}
	}
	for _, y := range s.Zones {
		// A zone this one backs up, failing over or failed over, has its
		// guard marks and its store here: failing this zone over too would
		// leave the other's writes unmarked and its store homeless.
		if y.Backup == c.Zone && y.Name != c.Zone && (y.PhaseOf() == PhaseFailingOver || y.PhaseOf() == PhaseFailover || y.PhaseOf() == PhaseReconciling) {
			return MetaResult{Err: fmt.Sprintf("zone %s, which %s backs up, is %s; fail %s over once it is normal again", y.Name, c.Zone, y.PhaseOf(), c.Zone)}
		}
	}
	if z.GuardGap {
		return MetaResult{Err: fmt.Sprintf("zone %s wrote without guard marks while %s was failed over and has not yet re-established them in %s; retry in a few seconds", c.Zone, z.Backup, z.Backup)}
	}
	for i, r := range s.Shards {
		if r.Target != "" && (r.Zone == c.Zone || r.Target == c.Zone) {
			return MetaResult{Err: fmt.Sprintf("shard %d is moving between %s and %s; finish the move first", i, r.Zone, r.Target)}
		}
	}
	l, _ := s.Lease(c.Zone)
	// A recovery waiting for the zone to serve again ends here: the zone
	// did not come back, and its record must not stay open for good.
	s.finishOp(c, OpRecover, c.Zone, "ended without the zone serving again: it was failed over anew")
	z.Phase = PhaseFailingOver
	z.Failover = &FailoverState{Started: c.Time, LeaseUntil: l.Until, Auto: c.Auto}
	detail := "by command"
	if c.Auto {
		detail = "automatic: the zone's lease expired"
	}
	op := s.startOp(c, Op{Kind: OpFailover, Target: c.Zone, Phase: PhaseFailingOver, Detail: detail})
	return MetaResult{Epoch: s.Epoch, Lease: l, Op: op}
}

// promote routes the failing zone's shards to its failover store. Its
// proposer has waited out the zone's last lease grant on its own monotonic
// clock (zone/failover.go promoteStep) and names that grant's count: the
// state machine refuses a promotion whose count is not the lease's latest,
// as a renewal granted after the wait began would still let the zone
// commit. It compares no wall-clock times: those of two meta leaders need
// not agree, and a skewed one would let the shards move while the zone's
// lease still runs. (Entries written before LeaseGrants existed keep the
// older wall-clock test, so a replay decides as they were decided.)
func (s *MetaState) promote(c *MetaCmd) MetaResult {
	z := s.zoneRef(c.Zone)
	switch {
	case z == nil:
		return MetaResult{Err: fmt.Sprintf("no zone %q", c.Zone)}
	case z.PhaseOf() == PhaseFailover && z.Failover != nil && z.Failover.Group == c.Group:
		return MetaResult{Epoch: s.Epoch, Op: s.finishOp(c, OpFailover, c.Zone, "")}
	case z.PhaseOf() != PhaseFailingOver:
		return MetaResult{Err: fmt.Sprintf("zone %s is %s, not failing over", c.Zone, z.PhaseOf())}
	case c.Group == "" || c.Seed == "":
		return MetaResult{Err: "promotion needs a group and a seed node"}
	}
	if _, taken := s.zone(c.Group); taken {
		return MetaResult{Err: fmt.Sprintf("group name %q is a zone's", c.Group)}
	}
	l, _ := s.Lease(c.Zone)
	switch {
	case c.LeaseGrants != nil && *c.LeaseGrants != l.Grants:
		return MetaResult{Err: fmt.Sprintf("zone %s's lease was granted %d times, not %d: wait out the latest grant", c.Zone, l.Grants, *c.LeaseGrants), Lease: l}
	case c.LeaseGrants == nil && c.Time <= l.Until:
		return MetaResult{Err: fmt.Sprintf("zone %s's lease runs until %d (now %d); its shards cannot move before", c.Zone, l.Until, c.Time), Lease: l}
	}
	s.Epoch++
	for i := range s.Shards {
		if s.Shards[i].Zone == c.Zone {
			s.Shards[i] = ShardRoute{Zone: c.Group, Epoch: s.Epoch}
		}
	}
	z.Phase = PhaseFailover
	f := z.Failover
	f.Group, f.Seed, f.Promoted, f.LeaseUntil = c.Group, c.Seed, c.Time, l.Until
	f.Blacklist = slices.Clone(c.Blacklist)
	slices.Sort(f.Blacklist)
	f.Blacklist = slices.Compact(f.Blacklist)
	op := s.finishOp(c, OpFailover, c.Zone, fmt.Sprintf("shards routed to failover store %s (seed %s), %d accounts blacklisted", c.Group, c.Seed, len(f.Blacklist)))
	return MetaResult{Epoch: s.Epoch, Op: op}
}

// recover begins reconciliation: the store's shards are marked as moving
// back to the zone, so the store releases them and accepts no more writes.
func (s *MetaState) recover(c *MetaCmd) MetaResult {
	z := s.zoneRef(c.Zone)
	switch {
	case z == nil:
		return MetaResult{Err: fmt.Sprintf("no zone %q", c.Zone)}
	case z.PhaseOf() == PhaseReconciling:
		return MetaResult{Epoch: s.Epoch, Op: s.existingOp(c, Op{Kind: OpRecover, Target: c.Zone, Phase: PhaseReconciling})}
	case z.PhaseOf() == PhaseNormal && c.OpID != "":
		// Home already (a recovery asked again, or never needed): the
		// latest recovery answers, or a record of nothing to do (kept
		// nowhere). Nothing changes.
		if op, ok := s.LatestOp(OpRecover, c.Zone); ok {
			return MetaResult{Epoch: s.Epoch, Op: &op}
		}
		return MetaResult{Epoch: s.Epoch, Op: &Op{Kind: OpRecover, Target: c.Zone, Phase: OpDone, Progress: 100,
			Detail: "the zone is normal: nothing to recover", Started: c.Time, Updated: c.Time, Finished: c.Time, Index: c.index}}
	case z.PhaseOf() != PhaseFailover:
		return MetaResult{Err: fmt.Sprintf("zone %s is %s, not failed over", c.Zone, z.PhaseOf())}
	}
	s.Epoch++
	for i := range s.Shards {
		if s.Shards[i].Zone == z.Failover.Group {
			s.Shards[i].Target, s.Shards[i].Epoch = c.Zone, s.Epoch
		}
	}
	z.Phase = PhaseReconciling
	z.Failover.Recovering = c.Time
	z.Failover.Report = nil
	op := s.startOp(c, Op{Kind: OpRecover, Target: c.Zone, Phase: PhaseReconciling, Detail: "merging failover store " + z.Failover.Group})
	return MetaResult{Epoch: s.Epoch, Op: op}
}

// finishRecover routes the shards back to the zone and ends the failover.
func (s *MetaState) finishRecover(c *MetaCmd) MetaResult {
	z := s.zoneRef(c.Zone)
	switch {
	case z == nil:
		return MetaResult{Err: fmt.Sprintf("no zone %q", c.Zone)}
	case z.PhaseOf() == PhaseNormal && z.Failover != nil && z.Failover.Group == c.Group:
		op, ok := s.LatestOp(OpRecover, c.Zone)
		if !ok {
			return MetaResult{Epoch: s.Epoch}
		}
		return MetaResult{Epoch: s.Epoch, Op: &op}
	case z.PhaseOf() != PhaseReconciling || z.Failover == nil || z.Failover.Group != c.Group:
		return MetaResult{Err: fmt.Sprintf("zone %s is %s, not reconciling %s", c.Zone, z.PhaseOf(), c.Group)}
	}
	s.Epoch++
	for i := range s.Shards {
		if s.Shards[i].Zone == c.Group {
			s.Shards[i] = ShardRoute{Zone: c.Zone, Epoch: s.Epoch}
		}
	}
	z.Phase = PhaseNormal
	z.Failover.Recovered = c.Time
	z.Failover.Report = c.Report
	// The zones this one backs up wrote without guard marks while it was
	// away (their marks had nowhere to go): they must re-establish them
	// before they can be failed over here.
	for i := range s.Zones {
		if s.Zones[i].Backup == c.Zone && s.Zones[i].Name != c.Zone {
			s.Zones[i].GuardGap = true
		}
	}
	// The zone's lease starts over: its leader renews from now on. Its
	// recorded end moves to now plus a grace, so that an automatic
	// failover does not take the long-expired lease of the failover for a
	// new loss before the zone's leader has had time to renew (a later
	// end only makes a promotion wait longer).
	if i, ok := slices.BinarySearchFunc(s.Leases, c.Zone, func(l Lease, z string) int { return cmpString(l.Zone, z) }); ok {
		s.Leases[i].Term = 0
		s.Leases[i].Until = max(s.Leases[i].Until, c.Time+RecoverGraceMs)
	}
	detail := "shards routed home"
	if r := c.Report; r != nil {
		detail = fmt.Sprintf("%d shards merged home: %d payments merged, %d duplicates voided", r.Shards, r.Merged, len(r.Voided))
	}
	// The operation ends when the zone serves again (noteHome).
	return MetaResult{Epoch: s.Epoch, Op: s.stepOp(c, OpRecover, c.Zone, PhaseAwaitingLease, 98, detail+"; waiting for the zone's leader to renew its lease")}
}

// guardReady ends a zone's guard gap.
func (s *MetaState) guardReady(c *MetaCmd) MetaResult {
	z := s.zoneRef(c.Zone)
	if z == nil {
		return MetaResult{Err: fmt.Sprintf("no zone %q", c.Zone)}
	}
	z.GuardGap = false
	return MetaResult{Epoch: s.Epoch}
}

// StoreOf returns the zone whose failover store group is g, while the
// store serves or is being reconciled.
func (s MetaState) StoreOf(g string) (ZoneInfo, bool) {
	for _, z := range s.Zones {
		if z.Failover != nil && z.Failover.Group == g && (z.Phase == PhaseFailover || z.Phase == PhaseReconciling) {
			return z, true
		}
	}
	return ZoneInfo{}, false
}

// HostZone is the zone whose nodes serve group g: g itself for a zone, the
// backup zone for a failover store.
func (s MetaState) HostZone(g string) string {
	if z, ok := s.StoreOf(g); ok {
		return z.Backup
	}
	return g
}
