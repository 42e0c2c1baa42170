package nemesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// FailoverCluster is what the failover fault needs besides ZoneCluster.
type FailoverCluster interface {
	ZoneCluster
	// ZoneState reads zone z's failover phase and, once it has been
	// reconciled, the report of its latest reconciliation.
	ZoneState(ctx context.Context, z string) (*history.Reconcile, error)
	// RecoverZone asks for zone z's reconciliation and waits up to wait for
	// its phase to be normal again.
	RecoverZone(ctx context.Context, z string, wait time.Duration) error
	// Backup names zone z's backup zone, the one that fails it over.
	Backup(z string) string
	// CutZones cuts the network between the nodes of zones a and b (raft
	// and API ports, both ways); Heal undoes it.
	CutZones(a, b string) error
}

// LoadLead is how long after a LoadZone call a failover step strikes
// (the cut or the kill).
const LoadLead = time.Second

// Bounds of the failover fault's waits.
const (
	// failoverWait bounds the wait, after the kill, for the zone's phase
	// to reach failover (lease 3s + failover.auto_after + promotion).
	failoverWait = 30 * time.Second
	// recoverWait is what one recover request waits for the phase normal.
	recoverWait = 60 * time.Second
	// homeWait bounds the wait, after a recover, for the zone to be ready.
	homeWait = 20 * time.Second
	// homeStable is how long a recovered zone must stay normal and ready
	// (the server's re-failover of a just-reconciled zone came within
	// 50ms).
	homeStable = 2 * time.Second
	// recoverTries bounds the recover requests of one step (a zone just
	// restarted may not have its leader yet).
	recoverTries = 4
	// failoverHealTimeout bounds the restart and the recover together.
	failoverHealTimeout = 150 * time.Second
	// loadLead is how long before the kill LoadZone's burst starts.
	loadLead = LoadLead
)

// failover runs one Failover step: load, lag (with BackupLag), kill,
// failover, serve, restart, recover, each recorded as a fault-step entry
// between the fault's start (at the cut, or at the kill without one) and
// end (after the recover). Another zone found failed over at the end is
// recovered too, its recover step naming it.
func (n *Nemesis) failover(ctx context.Context, id int, s Step) {
	fc, ok := n.C.(FailoverCluster)
	if !ok || len(fc.Zones()) == 0 {
		op := history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FFault, Fault: s.Fault, FaultID: id,
			Error: "failover needs a multi-zone cluster that can recover zones"}
		n.Rec.Add(op)
		n.failed[s.Fault]++
		return
	}
	zones := fc.Zones()
	z := zones[s.Pick%len(zones)]
	targets := fc.ZoneNodeIDs(z)
	if n.LoadZone != nil {
		// Writes in flight on the zone's users when it dies: some are
		// committed in the zone and not yet applied by the backup's
		// replica, the case the guard marks exist for.
		n.LoadZone(z, loadLead+n.BackupLag+2*time.Second)
		time.Sleep(loadLead)
	}
	start := history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FFault, Fault: s.Fault, FaultID: id, Zone: z, Targets: targets}
	if n.BackupLag > 0 {
		b := fc.Backup(z)
		start.Message = fmt.Sprintf("cut from backup zone %s for %s before the kill", b, n.BackupLag)
		start = n.Rec.Add(start)
		cerr := fc.CutZones(z, b)
		if cerr == nil {
			time.Sleep(n.BackupLag)
		}
		t0 := n.Rec.Now()
		kerr := fc.KillZone(z)
		herr := errors.Join(cerr, n.C.Heal())
		n.stepDone(id, s.Fault, z, StepLag, start.Time, herr, fmt.Sprintf("zone %s cut from zone %s, zone %s killed, cut healed", z, b, z), nil)
		ok = n.stepDone(id, s.Fault, z, StepKill, t0, kerr, "", nil)
	} else {
		t0 := n.Rec.Now()
		kerr := fc.KillZone(z)
		if kerr != nil {
			start.Error = kerr.Error()
		}
		n.Rec.Add(start)
		ok = n.stepDone(id, s.Fault, z, StepKill, t0, kerr, "", nil)
	}

	if ok {
		t1 := n.Rec.Now()
		st, err := n.waitPhase(fc, z, failoverWait, "failover")
		msg := ""
		if st != nil {
			msg = fmt.Sprintf("store %s, %d accounts isolated", st.Store, st.Blacklist)
		}
		ok = n.stepDone(id, s.Fault, z, StepFailover, t1, err, msg, nil)
	}
	if ok {
		t2 := n.Rec.Now()
		select {
		case <-ctx.Done():
		case <-time.After(s.Duration):
		}
		if n.SampleReplicas != nil {
			n.SampleReplicas(fmt.Sprintf("serve #%d", id))
		}
		ok = n.stepDone(id, s.Fault, z, StepServe, t2, nil, "", nil)
	}

	hctx, cancel := context.WithTimeout(context.Background(), failoverHealTimeout)
	defer cancel()
	healStart := n.Rec.Now()
	rerr := fc.RestartDown(hctx)
	restarted := n.stepDone(id, s.Fault, z, StepRestart, healStart, rerr, "", nil)
	recovered := n.recover(hctx, fc, id, s.Fault, z, true)
	// No other zone should have been failed over; one that was is
	// recorded (its own recover step) and reconciled, so the run ends
	// with every zone home.
	for _, other := range zones {
		if other == z {
			continue
		}
		if st, err := fc.ZoneState(hctx, other); err == nil && st.Phase != "normal" {
			n.Logf("nemesis: zone %s is %s too; reconciling it", other, st.Phase)
			n.recover(hctx, fc, id, s.Fault, other, true)
		}
	}
	end := history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FHeal,
		Fault: s.Fault, FaultID: id, Targets: targets, Zone: z, HealStart: healStart}
	if rerr != nil {
		end.Error = rerr.Error()
	} else if !recovered {
		end.Error = "zone not reconciled"
	}
	n.Rec.Add(end)
	if ok && restarted && recovered {
		n.applied[s.Fault]++
	} else {
		n.failed[s.Fault]++
	}
}

// recover reconciles zone z once its nodes are back, records the recover
// step (with the zone's report) and reports whether the zone is normal
// again. A zone that is normal and was never failed over needs nothing:
// with must false that is a success with no step recorded.
func (n *Nemesis) recover(ctx context.Context, fc FailoverCluster, id int, fault, z string, must bool) bool {
	t := n.Rec.Now()
	// A failover still under way finishes before it can be undone.
	st, err := n.waitPhase(fc, z, failoverWait, "failover", "normal", "reconciling")
	if err == nil && st.Phase == "normal" && !must {
		return true
	}
	msg := ""
	if err == nil && st.Phase != "normal" && n.PauseAuto != nil {
		if perr := n.PauseAuto(false); perr != nil {
			n.Logf("nemesis: switch automatic failover off: %v", perr)
		} else {
			msg = "automatic failover off during the recover; "
			defer func() {
				if perr := n.PauseAuto(true); perr != nil {
					n.Logf("nemesis: switch automatic failover on: %v", perr)
				}
			}()
		}
	}
	if err == nil && st.Phase != "normal" {
		for try := 1; try <= recoverTries; try++ {
			if err = fc.RecoverZone(ctx, z, recoverWait); err == nil || ctx.Err() != nil {
				break
			}
			n.Logf("nemesis: recover zone %s (try %d): %v", z, try, err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		if err == nil {
			st, err = n.waitHome(ctx, fc, z)
		}
	}
	if err == nil && st.Phase != "normal" {
		err = fmt.Errorf("zone %s is %s after the recover, not normal", z, st.Phase)
	}
	if err == nil && st.Report == nil {
		err = fmt.Errorf("zone %s shows no reconciliation report", z)
	}
	if st != nil && st.Report != nil {
		r := st.Report
		msg += fmt.Sprintf("store %s: %d shards, %d accounts took the store's state, %d kept, %d payments merged, %d duplicates voided, %d violations, %dms",
			st.Store, r.Shards, r.Taken, r.Kept, r.Merged, len(r.Voided), len(r.Violations), r.DurationMs)
	}
	return n.stepDone(id, fault, z, StepRecover, t, err, msg, st)
}

// waitHome polls zone z after its recover until it has been normal and
// ready (its leader holds a lease and serves writes) for homeStable, for up
// to homeWait, and returns its last state; a zone that leaves normal again
// is an error.
func (n *Nemesis) waitHome(ctx context.Context, fc FailoverCluster, z string) (*history.Reconcile, error) {
	ctx, cancel := context.WithTimeout(ctx, homeWait)
	defer cancel()
	var st *history.Reconcile
	var since time.Time // ready and normal since, zero when not
	for {
		got, err := fc.ZoneState(ctx, z)
		if err == nil {
			st = got
			if got.Phase == "failing_over" || got.Phase == "failover" {
				return got, fmt.Errorf("zone %s was failed over again after its recover (phase %s)", z, got.Phase)
			}
			switch {
			case got.Phase != "normal" || !got.Ready:
				// A node whose meta replica is a moment behind still
				// says reconciling.
				since = time.Time{}
			case since.IsZero():
				since = time.Now()
			case time.Since(since) >= homeStable:
				return got, nil
			}
		}
		select {
		case <-ctx.Done():
			if st == nil {
				return nil, fmt.Errorf("zone %s: no status after its recover: %w", z, err)
			}
			return st, fmt.Errorf("zone %s normal but not ready %s after its recover", z, homeWait)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPhase polls zone z until its phase is one of phases or wait has
// passed, and returns its last state.
func (n *Nemesis) waitPhase(fc FailoverCluster, z string, wait time.Duration, phases ...string) (*history.Reconcile, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var last error
	var st *history.Reconcile
	for {
		got, err := fc.ZoneState(ctx, z)
		if err == nil {
			st = got
			for _, p := range phases {
				if got.Phase == p {
					return got, nil
				}
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			if st != nil {
				return st, fmt.Errorf("zone %s still %s after %s (want %v)", z, st.Phase, wait, phases)
			}
			return nil, fmt.Errorf("zone %s: no status in %s: %w", z, wait, errors.Join(last, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stepDone records a fault-step entry from start to now, counts it, logs
// it, and reports whether it succeeded.
func (n *Nemesis) stepDone(id int, fault, z, step string, start int64, err error, msg string, st *history.Reconcile) bool {
	op := history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FFaultStep, Fault: fault, FaultID: id,
		Zone: z, Step: step, StepStart: start, Message: msg, Reconcile: st}
	if err != nil {
		op.Error = err.Error()
		n.failed[fault+"."+step]++
	} else {
		n.applied[fault+"."+step]++
	}
	op = n.Rec.Add(op)
	n.Logf("nemesis: %s zone %s: %s in %.1fs %s: %v", fault, z, step, float64(op.Time-start)/1e9, msg, errOrOK(err))
	return err == nil
}
