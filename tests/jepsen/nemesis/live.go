package nemesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// LiveFailoverCluster is what the failover-live fault needs besides
// FailoverCluster.
type LiveFailoverCluster interface {
	FailoverCluster
	// FailoverZone asks for zone z's failover (the operator's command) and
	// waits up to wait for its phase to be failover.
	FailoverZone(ctx context.Context, z string, wait time.Duration) error
	// CutZonesRaft cuts the raft traffic between the nodes of zones a and
	// b, both ways, leaving their API ports alone; Heal undoes it.
	CutZonesRaft(a, b string) error
	// MetaLeaderZone names the zone of the meta group's leader.
	MetaLeaderZone(ctx context.Context) (string, error)
}

// liveZone picks the zone a failover-live step fails over: from the step's
// pick on, the first zone that neither hosts the meta group's leader nor
// backs up a zone hosting it. Every raft group shares a node's raft port,
// so the cut between the zone and its backup cuts the meta group's traffic
// between them too: with the meta leader on one side, the other side would
// not learn of the failover (its store would not start) until the cut
// heals.
func liveZone(ctx context.Context, fc LiveFailoverCluster, pick int) string {
	zones := fc.Zones()
	mz, err := fc.MetaLeaderZone(ctx)
	for i := range zones {
		z := zones[(pick+i)%len(zones)]
		if err != nil || (z != mz && fc.Backup(z) != mz) {
			return z
		}
	}
	return zones[pick%len(zones)]
}

// ReplyCluster is what the lost-reply fault needs: a way to let writes be
// applied and lose their replies on the way back to the clients.
type ReplyCluster interface {
	// DropNodeReplies loses (on) or passes (off) every write reply sent
	// through node id.
	DropNodeReplies(id string, on bool) error
	// DropZoneReplies loses (on) or passes (off) every write reply for a
	// user of zone z whose id is even, through any node (the other half
	// get their answers).
	DropZoneReplies(z string, on bool) error
	// HealReplies passes every reply again.
	HealReplies()
}

// StepCut is failover-live's first step: the zone's replication to its
// backup zone cut while it takes writes.
const StepCut = "cut"

// liveWait bounds the failover command of failover-live: the zone's lease
// (3s) must end before the store is promoted.
const liveWait = 30 * time.Second

// failoverLive runs one FailoverLive step (see FailoverLive): load, cut,
// failover, serve, recover, each a fault-step entry.
func (n *Nemesis) failoverLive(ctx context.Context, id int, s Step) {
	fc, ok := n.C.(LiveFailoverCluster)
	if !ok || len(fc.Zones()) == 0 {
		n.Rec.Add(history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FFault, Fault: s.Fault, FaultID: id,
			Error: "failover-live needs a multi-zone cluster that can fail zones over and cut raft links"})
		n.failed[s.Fault]++
		return
	}
	z := liveZone(ctx, fc, s.Pick)
	b := fc.Backup(z)
	rc, lose := n.C.(ReplyCluster)
	lose = lose && n.LoseReplies
	if n.LoadZone != nil {
		n.LoadZone(z, loadLead+max(n.BackupLag, 0)+liveLoadAfter)
		time.Sleep(loadLead)
	}
	start := history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FFault, Fault: s.Fault, FaultID: id,
		Zone: z, Targets: fc.ZoneNodeIDs(z), Message: fmt.Sprintf("operator failover of live zone %s to %s", z, b)}
	start = n.Rec.Add(start)

	// The cut: the backup's replica of z falls behind while z writes on.
	t0 := n.Rec.Now()
	cerr := fc.CutZonesRaft(z, b)
	msg := fmt.Sprintf("raft between zones %s and %s cut", z, b)
	if cerr == nil && n.BackupLag > 0 {
		time.Sleep(n.BackupLag)
	}
	ok = n.stepDone(id, s.Fault, z, StepCut, t0, cerr, msg, nil)

	// The operator's command, given while the zone still holds its lease.
	// From now until the store serves, the zone's answers are lost: what
	// it decides meanwhile its clients retry in the store.
	t1 := n.Rec.Now()
	fmsg := ""
	if lose {
		if err := rc.DropZoneReplies(z, true); err != nil {
			fmsg = fmt.Sprintf("replies not lost: %v; ", err)
		} else {
			fmsg = fmt.Sprintf("write replies for zone %s's users of even id lost until the store served; ", z)
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), liveWait)
	ferr := fc.FailoverZone(fctx, z, liveWait)
	cancel()
	var st *history.Reconcile
	if ferr == nil {
		st, ferr = n.waitPhase(fc, z, liveWait, "failover")
	}
	if st != nil {
		fmsg += fmt.Sprintf("store %s, %d accounts isolated", st.Store, st.Blacklist)
	}
	if lose {
		rc.DropZoneReplies(z, false)
	}
	herr := n.C.Heal()
	ok = n.stepDone(id, s.Fault, z, StepFailover, t1, errors.Join(ferr, herr), fmsg, nil) && ok

	if ok {
		t2 := n.Rec.Now()
		select {
		case <-ctx.Done():
		case <-time.After(s.Duration):
		}
		if n.SampleReplicas != nil {
			n.SampleReplicas(fmt.Sprintf("serve #%d", id))
		}
		n.stepDone(id, s.Fault, z, StepServe, t2, nil, "", nil)
	}
	hctx, hcancel := context.WithTimeout(context.Background(), failoverHealTimeout)
	defer hcancel()
	healStart := n.Rec.Now()
	recovered := n.recover(hctx, fc, id, s.Fault, z, true)
	end := history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FHeal,
		Fault: s.Fault, FaultID: id, Targets: start.Targets, Zone: z, HealStart: healStart}
	if !recovered {
		end.Error = "zone not reconciled"
	}
	n.Rec.Add(end)
	if ok && recovered {
		n.applied[s.Fault]++
	} else {
		n.failed[s.Fault]++
	}
}

// liveLoadAfter is how long failover-live's extra load goes on after the
// cut: through the failover command and into the store's first seconds.
const liveLoadAfter = 6 * time.Second

// lostReply applies one LostReply step to its target node and returns what
// undoes it.
func (n *Nemesis) lostReply(s Step, target string, op *history.Op) (func(context.Context) error, error) {
	rc, ok := n.C.(ReplyCluster)
	if !ok {
		return nil, fmt.Errorf("%s needs a cluster whose clients go through reply proxies (the local backend)", s.Fault)
	}
	op.Message = "write replies through this node lost"
	return func(context.Context) error { return rc.DropNodeReplies(target, false) }, rc.DropNodeReplies(target, true)
}
