package run

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/scheduler"
)

// leaseEngine is what the task-lease engine does, in the terms of one
// task: lease it to a worker, renew (checkpoint) a lease, take back the
// leases that ran out, complete a lease. There is one engine, the rules of
// internal/lease, with two entry points: the cluster's, the meta state
// machine (fsm/meta_sched.go), and the simulation's, scheduler.Dispatcher,
// which both decide with those rules (scheduler/doc.go says so). This test
// runs one sequence through both entry points and requires the same answer
// from each at every step.
type leaseEngine interface {
	lease(worker string, now time.Time) (id uint64, users int64, ok bool)
	renew(id uint64, now time.Time, done int64) (fenced bool)
	expire(now time.Time) (takenBack int)
	complete(id uint64, now time.Time) (fenced bool)
	finished() bool
}

const engineTTL = time.Second

// dispatcherEngine is the simulation's engine over one range of 200 users.
type dispatcherEngine struct {
	t       *testing.T
	d       *scheduler.Dispatcher
	workers map[string]uint64 // the workers it knows → the lease each holds (0: none)
}

func newDispatcherEngine(t *testing.T) *dispatcherEngine {
	d, err := scheduler.New(scheduler.Config{LeaseTTL: engineTTL}, scheduler.FixedSlicer{Users: 200}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.AddWork(scheduler.Range{Start: 0, End: 200})
	return &dispatcherEngine{t: t, d: d, workers: map[string]uint64{}}
}

// lease is a worker asking for work. The Dispatcher hands work to the free
// slots of the workers it knows; a worker that no longer asks (the cluster's
// dead worker) is one the simulation removes: so a worker asking joins, and
// the idle others leave.
func (e *dispatcherEngine) lease(worker string, now time.Time) (uint64, int64, bool) {
	for w, held := range e.workers {
		if w != worker && held == 0 {
			if err := e.d.RemoveWorker(scheduler.WorkerID(w)); err != nil {
				e.t.Fatal(err)
			}
			delete(e.workers, w)
		}
	}
	if _, ok := e.workers[worker]; !ok {
		if err := e.d.AddWorker(scheduler.WorkerID(worker), 1); err != nil {
			e.t.Fatal(err)
		}
		e.workers[worker] = 0
	}
	for _, l := range e.d.Assign(now) {
		e.workers[worker] = uint64(l.ID)
		if string(l.Worker) == worker {
			return uint64(l.ID), l.Range.Len(), true
		}
		e.t.Fatalf("dispatcher leased to %s, not %s", l.Worker, worker)
	}
	return 0, 0, false
}

func (e *dispatcherEngine) renew(id uint64, now time.Time, done int64) bool {
	_, err := e.d.Renew(scheduler.LeaseID(id), now, done)
	if err != nil && !errors.Is(err, scheduler.ErrFenced) {
		e.t.Fatalf("dispatcher renew: %v", err)
	}
	return err != nil
}

func (e *dispatcherEngine) expire(now time.Time) int {
	out := e.d.Expire(now)
	for _, x := range out {
		if e.workers[string(x.Lease.Worker)] == uint64(x.Lease.ID) {
			e.workers[string(x.Lease.Worker)] = 0
		}
	}
	return len(out)
}

func (e *dispatcherEngine) complete(id uint64, now time.Time) bool {
	err := e.d.Complete(scheduler.LeaseID(id), now)
	if err != nil && !errors.Is(err, scheduler.ErrFenced) {
		e.t.Fatalf("dispatcher complete: %v", err)
	}
	return err != nil
}

func (e *dispatcherEngine) finished() bool { return e.d.Done() }

// metaEngine is the cluster's engine: a statement run whose one task holds
// the same 200 users, in a meta state machine.
type metaEngine struct {
	t    *testing.T
	m    *fsm.Meta
	idx  uint64
	run  uint64
	task map[uint64]uint64 // lease → task
}

func newMetaEngine(t *testing.T, now time.Time) *metaEngine {
	e := &metaEngine{t: t, m: fsm.NewMeta(nil), task: map[uint64]uint64{}}
	e.apply(fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}}, now)
	e.sched(fsm.MetaSchedResume, fsm.SchedCmd{Term: 1}, now)
	r := e.sched(fsm.MetaSchedCreateRun, fsm.SchedCmd{Job: fsm.JobStatement, Cycle: 202611}, now)
	e.run = r.Run.ID
	for s := 0; s < fsm.NumShards; s++ {
		c := fsm.SchedCmd{Run: e.run, Shard: s}
		if s == 0 {
			c.Count, c.Tasks = 200, []fsm.TaskSpec{{Lo: 0, Hi: 200 * fsm.NumShards, Users: 200}}
		}
		e.sched(fsm.MetaSchedGenerated, c, now)
	}
	return e
}

func (e *metaEngine) apply(c fsm.MetaCmd, now time.Time) fsm.MetaResult {
	e.t.Helper()
	e.idx++
	c.Time = now.UnixMilli()
	res := e.m.Apply(&raft.Log{Index: e.idx, Type: raft.LogCommand, Data: fsm.EncodeMeta(c)}).(fsm.MetaResult)
	if res.Err != "" {
		e.t.Fatalf("meta command %d: %s", c.Type, res.Err)
	}
	return res
}

func (e *metaEngine) sched(typ byte, c fsm.SchedCmd, now time.Time) *fsm.SchedResult {
	e.t.Helper()
	return e.apply(fsm.MetaCmd{Type: typ, Sched: &c}, now).Sched
}

func (e *metaEngine) lease(worker string, now time.Time) (uint64, int64, bool) {
	r := e.sched(fsm.MetaSchedLease, fsm.SchedCmd{Worker: worker, Zone: "A", Max: 1, TTLMs: engineTTL.Milliseconds(), Term: 1}, now)
	if len(r.Grants) == 0 {
		return 0, 0, false
	}
	g := r.Grants[0].Task
	e.task[g.Lease] = g.ID
	return g.Lease, g.Users, true
}

func (e *metaEngine) renew(id uint64, now time.Time, done int64) bool {
	return e.sched(fsm.MetaSchedRenew, fsm.SchedCmd{Run: e.run, Task: e.task[id], Lease: id, Term: 1, Next: uint64(done) * fsm.NumShards, Done: done}, now).Fenced
}

func (e *metaEngine) expire(now time.Time) int {
	return e.sched(fsm.MetaSchedExpire, fsm.SchedCmd{}, now).Expired
}

func (e *metaEngine) complete(id uint64, now time.Time) bool {
	return e.sched(fsm.MetaSchedComplete, fsm.SchedCmd{Run: e.run, Task: e.task[id], Lease: id, Term: 1}, now).Fenced
}

func (e *metaEngine) finished() bool {
	r, ok := e.m.State().Run(e.run)
	return ok && r.State == fsm.RunDone
}

// TestLeaseEnginesAgree: lease to w1, a checkpoint, no second lease while
// held, nothing taken back at the renewed deadline itself, a checkpoint
// past it fenced even before the take-back, expiry takes the task back
// from the checkpoint, w2 leases it, w1's late
// checkpoint and completion are fenced, w2 completes, the work is done.
func TestLeaseEnginesAgree(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	for _, e := range []struct {
		name string
		e    leaseEngine
	}{{"cluster (fsm)", newMetaEngine(t, t0)}, {"simulation (Dispatcher)", newDispatcherEngine(t)}} {
		t.Run(e.name, func(t *testing.T) {
			eng := e.e
			l1, users, ok := eng.lease("w1", t0)
			if !ok || users != 200 {
				t.Fatalf("w1's lease: %v, %d users, want the 200", ok, users)
			}
			if fenced := eng.renew(l1, t0.Add(500*time.Millisecond), 50); fenced {
				t.Fatal("w1's checkpoint within its lease was fenced")
			}
			if _, _, ok := eng.lease("w2", t0.Add(600*time.Millisecond)); ok {
				t.Fatal("a leased task was leased again")
			}
			if n := eng.expire(t0.Add(1200 * time.Millisecond)); n != 0 {
				t.Fatalf("%d leases taken back before the renewed lease ran out", n)
			}
			if n := eng.expire(t0.Add(500*time.Millisecond + engineTTL)); n != 0 {
				t.Fatalf("%d leases taken back at the renewed deadline itself", n)
			}
			if fenced := eng.renew(l1, t0.Add(1600*time.Millisecond), 60); !fenced {
				t.Fatal("w1's checkpoint past its deadline, before any take-back, was accepted")
			}
			if n := eng.expire(t0.Add(3 * time.Second)); n != 1 {
				t.Fatalf("%d leases taken back after the lease ran out, want 1", n)
			}
			l2, users, ok := eng.lease("w2", t0.Add(3100*time.Millisecond))
			if !ok || l2 == l1 {
				t.Fatalf("w2's lease of the taken-back task: %d %v (w1's was %d)", l2, ok, l1)
			}
			if users != 150 {
				t.Fatalf("w2's lease holds %d users, want the 150 after w1's checkpoint of 50", users)
			}
			if fenced := eng.renew(l1, t0.Add(3200*time.Millisecond), 100); !fenced {
				t.Fatal("w1's late checkpoint of a task taken back was accepted")
			}
			if fenced := eng.complete(l1, t0.Add(3300*time.Millisecond)); !fenced {
				t.Fatal("w1's late completion was accepted")
			}
			if eng.finished() {
				t.Fatal("finished before the live lease completed")
			}
			if fenced := eng.complete(l2, t0.Add(3400*time.Millisecond)); fenced {
				t.Fatal("w2's completion was fenced")
			}
			if !eng.finished() {
				t.Fatal("not finished after the only task completed")
			}
		})
	}
}
