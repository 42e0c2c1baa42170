package scheduler

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// WorkerID names a worker process (a node), as membership reports it.
type WorkerID string

// TaskID identifies a task: a range of users handed out as a unit. Ids are issued in
// increasing order from 1.
type TaskID uint64

// Config configures a Dispatcher.
type Config struct {
	// LeaseTTL is how long a lease lives without a renewal; when it runs out the task's
	// unfinished users go back to the pending queue. Workers renew at a third of it.
	// Default 60s.
	LeaseTTL time.Duration `yaml:"lease_ttl" json:"lease_ttl"`
	// Backups lets the dispatcher hand a backup copy of a stalled task (a renewal that
	// reports no progress) to an idle slot once nothing is pending. The two leases are
	// fenced: the first to complete wins and the other is told ErrFenced at its next
	// call, so users both processed are processed twice, and the caller counts them.
	// Default true.
	Backups bool `yaml:"backups" json:"backups"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config { return Config{LeaseTTL: time.Minute, Backups: true} }

// Validate checks that leases live a positive time.
func (c Config) Validate() error {
	if c.LeaseTTL <= 0 {
		return fmt.Errorf("dispatch lease_ttl %s: must be positive: %w", c.LeaseTTL, ErrInvalidConfig)
	}
	return nil
}

// Stats counts what a Dispatcher did since it was made.
type Stats struct {
	Tasks     int64 // tasks created: ranges handed out as a unit, cut tails included
	Backups   int64 // backup leases started
	Splits    int64 // tails cut from running leases and put back to be handed out
	Expired   int64 // leases that ran out without renewal
	Fenced    int64 // calls answered with ErrFenced
	Completed int64 // tasks completed
}

// Dispatcher is the execution layer's loop logic: it holds the pending ranges, cuts
// them into tasks with a Slicer, leases the tasks to free worker slots under an optional
// concurrency Limit, and takes them back when leases expire. It reads no clock, starts no
// goroutine and talks to no network: the caller passes time in, delivers the leases it
// returns to workers, and reports their renewals and completions. The cluster scheduler
// and the simulation in scheduler/sim drive this same type.
//
// A Dispatcher is not safe for concurrent use. Iteration never depends on map order, so
// the same calls give the same leases.
type Dispatcher struct {
	cfg    Config
	slicer Slicer
	limit  Limit

	pending pending
	workers []*worker // online, in join order: the hand-out order
	byID    map[WorkerID]*worker
	leases  map[LeaseID]*lease
	tasks   map[TaskID]*task
	stalled map[LeaseID]bool
	expiry  expiryHeap
	expired []Expired // expired inside Renew or Complete, not yet returned by Expire

	onlineSlots, freeSlots, inFlight int
	nextLease                        LeaseID
	nextTask                         TaskID
	stats                            Stats
}

type worker struct {
	id          WorkerID
	slots, busy int
	online      bool
}

type task struct {
	id     TaskID
	r      Range
	leases []*lease // the primary, then at most one backup
}

// New returns a Dispatcher with nothing pending and no workers. limit may be nil for
// no concurrency limit beyond the slots.
func New(cfg Config, slicer Slicer, limit Limit) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if slicer == nil {
		return nil, fmt.Errorf("dispatcher: nil slicer: %w", ErrInvalidConfig)
	}
	return &Dispatcher{
		cfg:       cfg,
		slicer:    slicer,
		limit:     limit,
		byID:      make(map[WorkerID]*worker),
		leases:    make(map[LeaseID]*lease),
		tasks:     make(map[TaskID]*task),
		stalled:   make(map[LeaseID]bool),
		nextLease: 1,
		nextTask:  1,
	}, nil
}

// AddWork appends a range of users to the pending queue, as the generation layer
// produces it.
func (d *Dispatcher) AddWork(r Range) { d.pending.pushBack(r) }

// AddWorker puts a worker with the given number of slots online.
func (d *Dispatcher) AddWorker(id WorkerID, slots int) error {
	if _, ok := d.byID[id]; ok {
		return fmt.Errorf("add worker %q: %w", id, ErrWorkerExists)
	}
	if slots < 1 {
		return fmt.Errorf("add worker %q: %d slots: %w", id, slots, ErrInvalidConfig)
	}
	w := &worker{id: id, slots: slots, online: true}
	d.workers = append(d.workers, w)
	d.byID[id] = w
	d.onlineSlots += slots
	d.freeSlots += slots
	return nil
}

// RemoveWorker takes a worker offline, as membership reports it gone: it gets no more
// tasks. Its leases are not revoked; they expire after LeaseTTL unless renewed, because
// a worker that looks gone may still be running.
func (d *Dispatcher) RemoveWorker(id WorkerID) error {
	w, ok := d.byID[id]
	if !ok {
		return fmt.Errorf("remove worker %q: %w", id, ErrUnknownWorker)
	}
	w.online = false
	delete(d.byID, id)
	d.workers = slices.DeleteFunc(d.workers, func(x *worker) bool { return x == w })
	d.onlineSlots -= w.slots
	d.freeSlots -= w.slots - w.busy
	return nil
}

// View returns what the slicer sees now.
func (d *Dispatcher) View() View {
	return View{Pending: d.pending.users, OnlineSlots: d.onlineSlots, FreeSlots: d.freeSlots}
}

// InFlight returns the number of leases held, by online workers or not.
func (d *Dispatcher) InFlight() int { return d.inFlight }

// Done reports whether every user added has been completed: nothing pending and no task
// outstanding.
func (d *Dispatcher) Done() bool { return d.pending.users == 0 && len(d.tasks) == 0 }

// Stats returns the counters so far.
func (d *Dispatcher) Stats() Stats { return d.stats }

// Assign hands tasks to free slots, one slot per worker per round in join order, while
// work is pending and the limit allows; then, with Backups on and nothing pending, hands
// backups of stalled tasks to the slots still free. It returns the new leases; the caller
// delivers them.
func (d *Dispatcher) Assign(now time.Time) []Lease {
	d.expireDue(now)
	budget := math.MaxInt
	if d.limit != nil {
		budget = d.limit.Limit(now) - d.inFlight
	}
	var out []Lease
	for budget > 0 && d.freeSlots > 0 && d.pending.users > 0 {
		handed := false
		for _, w := range d.workers {
			if budget <= 0 || d.pending.users == 0 {
				break
			}
			if w.busy >= w.slots {
				continue
			}
			n := min(max(d.slicer.Size(d.View()), 1), d.pending.users)
			r := d.pending.take(n)
			t := &task{id: d.nextTask, r: r}
			d.nextTask++
			d.tasks[t.id] = t
			d.stats.Tasks++
			out = append(out, d.grant(now, w, t, r, false).Lease)
			budget--
			handed = true
		}
		if !handed {
			break
		}
	}
	if d.cfg.Backups && d.pending.users == 0 {
		out = d.assignBackups(now, budget, out)
	}
	return out
}

// assignBackups starts a backup for each stalled task, the one with most users left
// first, on a free slot of another worker.
func (d *Dispatcher) assignBackups(now time.Time, budget int, out []Lease) []Lease {
	if budget <= 0 || d.freeSlots == 0 || len(d.stalled) == 0 {
		return out
	}
	var cands []*lease
	for id := range d.stalled {
		l := d.leases[id]
		if !l.Backup && !l.fenced && len(d.tasks[l.Task].leases) == 1 && l.remaining() > 0 {
			cands = append(cands, l)
		}
	}
	slices.SortFunc(cands, func(a, b *lease) int {
		if c := cmp.Compare(b.remaining(), a.remaining()); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, p := range cands {
		if budget <= 0 || d.freeSlots == 0 {
			break
		}
		i := slices.IndexFunc(d.workers, func(w *worker) bool { return w != p.w && w.busy < w.slots })
		if i < 0 {
			break
		}
		r := Range{Start: p.Range.Start + p.Done, End: p.Range.End}
		out = append(out, d.grant(now, d.workers[i], d.tasks[p.Task], r, true).Lease)
		d.stats.Backups++
		budget--
	}
	return out
}
