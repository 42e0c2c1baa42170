package zone

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Shard moves (this comment is their design; zone/DESIGN.md places the
// driver among the others; the command is the server's handleMoveShard).
// A move is an operation of the meta group: the meta leader drives every
// unfinished one from the phase its record shows, so a move whose driver
// died with its meta leader is finished by the next and
// never stays half done:
//
//  1. releasing: the meta group marks the shard as moving (a new epoch);
//     the source zone's leader then releases it in its own log, after
//     which the source refuses every write to the shard; the shard's
//     records are read from the source after the release (so every write
//     it acknowledged is among them);
//  2. importing: they are written into the target's log: the users' data,
//     their outbox with its delivery state and their effect records, so
//     that a run of the same job and cycle in the target is a replay;
//  3. dropping: the source drops the shard's outbox and effect records
//     (fsm.CmdDropShard), so that it delivers none of its notifications
//     again (from the release on, it already delivers none: fsm.Undelivered
//     lists owned shards only);
//  4. routing: the meta group routes the shard to the target (another
//     epoch), whose leader then takes ownership and delivers what is
//     undelivered; the same command finishes the operation.
//
// Every step is idempotent, so a step cut short is run again.

// ingestBatchBytes bounds the records of one ingest entry.
const ingestBatchBytes = 512 << 10

// ShardMoveHost is the Host of the shard move driver, which drives
// operations of the meta group and runs goroutines of its own.
type ShardMoveHost interface {
	Host
	// MetaLeader reports whether this node leads the meta group now.
	MetaLeader() bool
	// MetaApplyIdempotent is MetaApply for a command that may be applied
	// twice with one effect (FailoverHost.MetaApplyIdempotent).
	MetaApplyIdempotent(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error)
	// NoteOp records an operation's phase and progress, best effort.
	NoteOp(ctx context.Context, id, phase string, progress int, detail string, err error)
	// GetJSON GETs addr+path into out; an error reply becomes an
	// *api.Error.
	GetJSON(ctx context.Context, addr, path string, out any) error
	// Go runs fn as one of the node's goroutines: the node's shutdown
	// waits for it.
	Go(fn func())
	// Stopping is closed once the node stops.
	Stopping() <-chan struct{}
}

// ShardMoveDriver is the meta leader's driver of shard moves.
type ShardMoveDriver struct {
	host ShardMoveHost
	log  *slog.Logger
	// hold, if set (tests), is called before each phase; the driver stops
	// with its error.
	hold func(ctx context.Context, phase string) error
	// drivers: the moves being driven, by operation.
	drivers DriverSet
}

// NewShardMoveDriver makes the shard move driver of host. hold, if not
// nil, is called before each phase (a test's hook to hang a driver there).
func NewShardMoveDriver(host ShardMoveHost, cfg DriverConfig, hold func(ctx context.Context, phase string) error) *ShardMoveDriver {
	return &ShardMoveDriver{host: host, log: cfg.Logger, hold: hold}
}

func (d *ShardMoveDriver) holdMove(ctx context.Context, phase string) error {
	if d.hold == nil {
		return nil
	}
	return d.hold(ctx, phase)
}

// Tick starts, on the meta leader, a driver for every unfinished shard
// move that has none, from the phase its record shows.
func (d *ShardMoveDriver) Tick() {
	if !d.host.MetaLeader() {
		return
	}
	st := d.host.Meta().State()
	if !st.Initialized {
		return
	}
	for _, o := range st.Ops {
		if o.Done() || o.Kind != fsm.OpShardMove || !d.drivers.Start(o.ID) {
			continue
		}
		d.host.Go(func() {
			defer d.drivers.Done(o.ID)
			// The watcher reads the node's meta replica, which the
			// node's close clears: it ends before this driver does
			// (cancel, then Wait).
			var watch sync.WaitGroup
			defer watch.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// Only while this node runs and leads the meta group: a
			// deposed leader's driver stops, the new leader's takes over.
			watch.Add(1)
			go func() {
				defer watch.Done()
				t := time.NewTicker(50 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-d.host.Stopping():
						cancel()
						return
					case <-ctx.Done():
						return
					case <-t.C:
						if !d.host.MetaLeader() {
							cancel()
							return
						}
					}
				}
			}()
			if err := d.driveMove(ctx, o); err != nil {
				d.log.Warn("shard move", "op", o.ID, "shard", o.Shard, "to", o.To, "phase", o.Phase, "err", err)
				if ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) {
					d.host.NoteOp(context.Background(), o.ID, d.opPhase(o.ID), d.opProgress(o.ID), "", err)
				}
			}
		})
	}
}

func (d *ShardMoveDriver) opPhase(id string) string {
	o, _ := d.host.Meta().State().Op(id)
	return o.Phase
}

func (d *ShardMoveDriver) opProgress(id string) int {
	o, _ := d.host.Meta().State().Op(id)
	return o.Progress
}

// driveMove takes a shard move on from the phase its record shows.
func (d *ShardMoveDriver) driveMove(ctx context.Context, o fsm.Op) error {
	shard, target := o.Shard, o.To
	route := d.host.Meta().State().Shards[shard]
	if route.Target == "" {
		// Routed already: the record is closed by the command that
		// routes it (asked again, it changes nothing else).
		return d.finishMove(ctx, shard, target)
	}
	if route.Target != target {
		return fmt.Errorf("shard %d moves to %s, not %s", shard, route.Target, target)
	}
	source := route.Zone
	start := time.Now()
	if o.Phase != fsm.MovePhaseDropping && o.Phase != fsm.MovePhaseRouting {
		if err := d.holdMove(ctx, fsm.MovePhaseReleasing); err != nil {
			return err
		}
		// Export from the source once it has released the shard.
		var recs []fsm.Record
		path := fmt.Sprintf("/v1/internal/shards/%d/export?epoch=%d", shard, route.Epoch)
		if err := d.host.RetryZone(ctx, source, func(addr string) error {
			recs = nil
			return d.host.GetJSON(ctx, addr, path, &recs)
		}); err != nil {
			return fmt.Errorf("export shard %d from %s: %w", shard, source, err)
		}
		// Ingest into the target in batches of whole users: the target
		// checks each user's records add up, and replaces its copy of
		// the user.
		slices.SortStableFunc(recs, func(a, b fsm.Record) int { return cmp.Compare(recUser(a), recUser(b)) })
		total, done := len(recs), 0
		d.host.NoteOp(ctx, o.ID, fsm.MovePhaseImporting, 20, fmt.Sprintf("0 of %d records imported into %s", total, target), nil)
		if err := d.holdMove(ctx, fsm.MovePhaseImporting); err != nil {
			return err
		}
		for len(recs) > 0 {
			size, i := 0, 0
			for ; i < len(recs) && (i == 0 || recUser(recs[i]) == recUser(recs[i-1]) ||
				size+len(recs[i].Value)+len(recs[i].Key) < ingestBatchBytes); i++ {
				size += len(recs[i].Value) + len(recs[i].Key)
			}
			batch := recs[:i]
			if err := d.host.RetryZone(ctx, target, func(addr string) error {
				return d.host.PostJSON(ctx, addr, fmt.Sprintf("/v1/internal/shards/%d/import", shard), batch, nil)
			}); err != nil {
				return fmt.Errorf("import shard %d into %s: %w", shard, target, err)
			}
			recs = recs[i:]
			done += i
			if len(recs) > 0 {
				d.host.NoteOp(ctx, o.ID, fsm.MovePhaseImporting, 20+60*done/total, fmt.Sprintf("%d of %d records imported into %s", done, total, target), nil)
			}
		}
		d.host.NoteOp(ctx, o.ID, fsm.MovePhaseDropping, 85, fmt.Sprintf("%d records imported into %s; dropping the shard's outbox in %s", total, target, source), nil)
	}
	if o.Phase != fsm.MovePhaseRouting {
		if err := d.holdMove(ctx, fsm.MovePhaseDropping); err != nil {
			return err
		}
		// Drop before the route flips: while the shard is moving no
		// other move of it can start, so a drop (or a retry of one that
		// went on to commit late) never meets records a later move
		// brought back.
		drop := fmt.Sprintf("/v1/internal/shards/%d/drop?group=%s&epoch=%d", shard, source, route.Epoch)
		if err := d.host.RetryZone(ctx, source, func(addr string) error {
			return d.host.PostJSON(ctx, addr, drop, nil, nil)
		}); err != nil {
			return fmt.Errorf("drop shard %d from %s: %w", shard, source, err)
		}
		d.host.NoteOp(ctx, o.ID, fsm.MovePhaseRouting, 95, "routing the shard to "+target, nil)
	}
	if err := d.holdMove(ctx, fsm.MovePhaseRouting); err != nil {
		return err
	}
	if err := d.finishMove(ctx, shard, target); err != nil {
		return err
	}
	d.log.Info("shard moved", "shard", shard, "from", source, "to", target, "op", o.ID, "resumed_at", o.Phase, "took", time.Since(start))
	return nil
}

// finishMove routes a moved shard to its target, which finishes its
// operation.
func (d *ShardMoveDriver) finishMove(ctx context.Context, shard int, target string) error {
	res, err := d.host.MetaApplyIdempotent(ctx, fsm.MetaCmd{Type: fsm.MetaFinishMove, Shard: shard, Target: target})
	if err != nil {
		return err
	}
	if res.Err != "" {
		return api.Errorf(api.CodeInvalidArgument, "%s", res.Err)
	}
	return d.waitMeta(ctx, res.Epoch)
}

// recUser is the user a shard record belongs to (fsm.RecordUser: effect
// records end with it, the others begin with it).
func recUser(r fsm.Record) uint64 {
	u, _ := fsm.RecordUser(r.Bucket, r.Key)
	return u
}

// waitMeta waits until this node's meta replica reaches epoch.
func (d *ShardMoveDriver) waitMeta(ctx context.Context, epoch uint64) error {
	for d.host.Meta().State().Epoch < epoch {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
