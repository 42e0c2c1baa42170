package zone

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/fsm"
)

// TestReconcileStop, when set (tests only), is asked after each merged
// shard whether to stop the reconciliation there, as if its driver had
// crashed.
var TestReconcileStop atomic.Pointer[func(merged int) bool]

// reconcileStep merges a failover store back into its zone and routes the
// shards home. Each shard's merge is idempotent, so a run cut short is
// finished by the next.
func (d *FailoverDriver) reconcileStep(ctx context.Context, z string) error {
	st := d.host.Meta().State()
	zi, _ := st.ZoneOf(z)
	if zi.PhaseOf() != fsm.PhaseReconciling || zi.Failover == nil {
		return nil
	}
	group := zi.Failover.Group
	var shards []int
	for s, r := range st.Shards {
		if r.Zone == group {
			shards = append(shards, s)
		}
	}
	// Shards merge in parallel (their entries share the zone's appends);
	// the report sums them in shard order.
	reports := make([]fsm.MergeReport, len(shards))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	op, _ := st.ActiveOp(fsm.OpRecover, z)
	progress := func(merged int) {
		d.host.NoteOp(ctx, op.ID, "merging", 5+90*merged/max(len(shards), 1), fmt.Sprintf("%d of %d shards of %s merged into %s", merged, len(shards), group, z), nil)
	}
	progress(0)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		first  error
		merged atomic.Int64
		next   atomic.Int64
	)
	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	progressWG.Add(1)
	go func() {
		defer progressWG.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-t.C:
				progress(int(merged.Load()))
			}
		}
	}()
	for w := 0; w < reconcileWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(shards) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				err := d.mergeShard(ctx, z, group, shards[i], st.Shards[shards[i]].Epoch, &reports[i])
				if err == nil {
					m := int(merged.Add(1))
					if stop := TestReconcileStop.Load(); stop != nil && (*stop)(m) {
						err = errors.New("reconciliation stopped by the test")
					}
					if err == nil {
						err = d.hold(ctx, z, HoldMerged, m)
					}
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(progressDone)
	progressWG.Wait()
	if first != nil {
		return first
	}
	rep := &fsm.FailoverReport{}
	for _, mr := range reports {
		rep.Shards++
		rep.Taken += mr.Taken
		rep.Kept += mr.Kept
		rep.Merged += mr.Merged
		rep.Voided = append(rep.Voided, mr.Voided...)
		rep.Contradicted = append(rep.Contradicted, mr.Contradicted...)
		rep.Violations = append(rep.Violations, mr.Violations...)
		rep.Unmerged += len(mr.Unmerged)
	}
	took := time.Since(time.UnixMilli(zi.Failover.Recovering))
	rep.DurationMs = took.Milliseconds()
	res, err := d.host.MetaApplyIdempotent(ctx, fsm.MetaCmd{Type: fsm.MetaFinishRecover, Zone: z, Group: group, Report: rep})
	if err != nil {
		return err
	}
	if res.Err != "" {
		return errors.New(res.Err)
	}
	d.metrics.ReconcileSeconds.WithLabelValues(z).Set(took.Seconds())
	d.log.Warn("zone reconciled", "zone", z, "store", group, "shards", rep.Shards, "taken", rep.Taken, "kept", rep.Kept,
		"merged", rep.Merged, "voided", len(rep.Voided), "contradicted", len(rep.Contradicted), "violations", len(rep.Violations), "took", took)
	return nil
}

// reconcileWorkers is how many shards a reconciliation merges at once.
const reconcileWorkers = 4

// mergeShard exports one released shard from the failover store and merges
// it into the zone (idempotent: a shard merged before returns its report).
func (d *FailoverDriver) mergeShard(ctx context.Context, z, group string, shard int, epoch uint64, out *fsm.MergeReport) error {
	var recs []fsm.Record
	path := fmt.Sprintf("/v1/internal/shards/%d/export?group=%s&epoch=%d", shard, group, epoch)
	if err := d.host.RetryZone(ctx, group, func(addr string) error {
		recs = nil
		return d.host.GetJSON(ctx, addr, path, &recs)
	}); err != nil {
		return fmt.Errorf("export shard %d from %s: %w", shard, group, err)
	}
	if err := d.host.RetryZone(ctx, z, func(addr string) error {
		return d.host.PostJSON(ctx, addr, fmt.Sprintf("/v1/internal/shards/%d/merge?group=%s", shard, group), recs, out)
	}); err != nil {
		return fmt.Errorf("merge shard %d into %s: %w", shard, z, err)
	}
	return nil
}
