package scheduler

import (
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
	// LeaseTTL is how long a lease lives without a renewal; when it runs out, the task's
	// users after its last checkpoint go back to the pending queue. Workers renew at a
	// third of it. Default 60s.
	LeaseTTL time.Duration `yaml:"lease_ttl" json:"lease_ttl"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config { return Config{LeaseTTL: time.Minute} }

// MaxLeaseTTL bounds Config.LeaseTTL: a lease that lives longer is one a
// dead worker holds for good.
const MaxLeaseTTL = 365 * 24 * time.Hour

// Validate checks that leases live a positive time of at most MaxLeaseTTL.
func (c Config) Validate() error {
	if c.LeaseTTL <= 0 {
		return fmt.Errorf("dispatch lease_ttl %s: must be positive: %w", c.LeaseTTL, ErrInvalidConfig)
	}
	if c.LeaseTTL > MaxLeaseTTL {
		return fmt.Errorf("dispatch lease_ttl %s: must be at most %s: %w", c.LeaseTTL, MaxLeaseTTL, ErrInvalidConfig)
	}
	return nil
}

// Stats counts what a Dispatcher did since it was made.
type Stats struct {
	Tasks     int64 // tasks created: ranges handed out as a unit, cut tails included
	Splits    int64 // tails cut from running leases and put back to be handed out
	Expired   int64 // leases that ran out without renewal
	Fenced    int64 // calls answered with ErrFenced
	Completed int64 // tasks completed
}

// Dispatcher is the execution layer's loop logic: it holds the pending ranges, cuts
// them into tasks with a Slicer, leases the tasks to free worker slots under an optional
// concurrency Limit, lets the slicer cut the tail off running leases at their renewals,
// and takes tasks back when their leases expire. It reads no clock, starts no goroutine
// and talks to no network: the caller passes time in, delivers the leases it returns to
// workers, and reports their renewals and completions. The simulation in scheduler/sim
// drives it; its lease decisions (grant, expiry, fencing, checkpoint, take-back,
// completion) are internal/lease's, the rules the cluster applies in the meta state
// machine (fsm/meta_sched.go).
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
	expiry  expiryHeap
	expired []Expired // expired inside Renew, Complete or Assign, not yet returned by Expire

	onlineSlots, freeSlots int
	open                   int   // leases not Finished
	inFlightUsers          int64 // users leased and not yet checkpointed as done
	nextLease              LeaseID
	origin                 time.Time // the first time given: lease deadlines count from it
	originSet              bool
	nextTask               TaskID
	stats                  Stats
}

type worker struct {
	id          WorkerID
	slots, busy int
	online      bool
	rate        float64 // users a second per slot, smoothed over renewals; zero while unknown
}

// rateWeight is the weight of a new observation in a worker's smoothed rate.
const rateWeight = 0.3

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

// View returns what the slicer sees now, for a task on worker w (nil for none).
func (d *Dispatcher) view(w *worker) View {
	v := View{Pending: d.pending.users, OnlineSlots: d.onlineSlots, FreeSlots: d.freeSlots, InFlight: d.inFlightUsers}
	known, sum := 0, 0.0
	for _, x := range d.workers {
		if x.rate > 0 {
			known += x.slots
			sum += x.rate * float64(x.slots)
		}
	}
	if known == 0 {
		return v
	}
	v.ClusterRate = sum / float64(known) * float64(d.onlineSlots)
	if w != nil {
		v.SlotRate = w.rate
	}
	return v
}

// View returns what the slicer sees now, without a worker's own rate.
func (d *Dispatcher) View() View { return d.view(nil) }

// InFlight returns the number of leases holding a slot, by online workers or not.
func (d *Dispatcher) InFlight() int { return len(d.leases) }

// Done reports whether every user added has been processed: nothing pending and no
// lease with users left. Finished leases may still hold their slots.
func (d *Dispatcher) Done() bool { return d.pending.users == 0 && d.open == 0 }

// Stats returns the counters so far.
func (d *Dispatcher) Stats() Stats { return d.stats }

// Assign hands tasks to free slots, one slot per worker per round in join order, while
// work is pending and the limit allows. It returns the new leases; the caller delivers
// them.
func (d *Dispatcher) Assign(now time.Time) []Lease {
	d.expireDue(now)
	budget := math.MaxInt
	if d.limit != nil {
		budget = d.limit.Limit(now) - len(d.leases)
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
			n := min(max(d.slicer.Size(d.view(w)), 1), d.pending.users)
			out = append(out, d.grant(now, w, d.pending.take(n)).view())
			budget--
			handed = true
		}
		if !handed {
			break
		}
	}
	return out
}
