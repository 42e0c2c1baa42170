package scheduler

import (
	"container/heap"
	"fmt"
	"time"

	tasklease "github.com/rzonedb/rzone/internal/lease"
)

// The Dispatcher's leases follow the cluster's rules: grant, expiry, fencing,
// checkpoint, take-back and completion are internal/lease's functions, the ones the
// meta state machine (fsm/meta_sched.go) applies. Times go to them in nanoseconds since
// the Unix epoch; the Dispatcher's leases have no scheduler term (0). What is the
// Dispatcher's own: worker slots, the expiry heap and the slicer's cuts.

// LeaseID identifies one lease. Ids are issued in increasing order from 1 and never
// reused, so an id is also a fencing token: a task handed out again gets a new one, and
// the old id is answered ErrFenced.
type LeaseID uint64

// Lease is a task leased to one worker slot. The Dispatcher returns copies; changing one
// changes nothing.
type Lease struct {
	ID     LeaseID
	Task   TaskID
	Worker WorkerID
	// Range is what the holder must process. A renewal may shorten End (the tail was cut
	// and handed to other slots); the holder stops at the End it was last told.
	Range Range
	// Done is how many users from Range.Start the holder has processed, as of its last
	// accepted checkpoint (renewal). If the lease expires, the users from there on go
	// back to be handed out.
	Done int64
	// Expires is the lease's deadline: unless renewed, it is taken back at any time
	// after it (at Expires itself it still holds).
	Expires time.Time
}

// Finished reports whether the lease has nothing left to process: a renewal that cut a
// stalled lease back to its checkpoint ends it there. Its users count as done at once;
// its slot stays taken until the holder, awake again, calls Complete.
func (l Lease) Finished() bool { return l.Done >= l.Range.Len() }

// Expired is a lease that ran out, and the users it put back in the pending queue.
type Expired struct {
	Lease    Lease
	Returned Range
}

type lease struct {
	d        *Dispatcher
	task     TaskID
	rng      Range
	rec      tasklease.Lease // id, holder, deadline, ttl and checkpoint, relative to rng.Start and the Dispatcher's origin (Next = Done)
	w        *worker
	checked  time.Time // when the checkpoint was last set: the grant, then each renewal
	finished bool      // ended at a renewal; only the slot is still held
}

// id is the lease's id.
func (l *lease) id() LeaseID { return LeaseID(l.rec.ID) }

// view is the lease as its holder and the caller see it.
func (l *lease) view() Lease {
	return Lease{ID: l.id(), Task: l.task, Worker: l.w.id, Range: l.rng, Done: l.rec.Done, Expires: l.d.timeAt(l.rec.Deadline)}
}

// remaining is how many users of the range the holder has not checkpointed.
func (l *lease) remaining() int64 { return l.rec.Left(l.rng.Len()) }

// nanos is t as the lease rules take it: nanoseconds since the first time
// the Dispatcher was given (a Duration, so saturated rather than wrapped far
// from it). The rules see ids relative to a range's start, so a lease record
// holds no absolute time and no absolute user id.
func (d *Dispatcher) nanos(t time.Time) int64 {
	if !d.originSet {
		d.origin, d.originSet = t, true
	}
	return int64(t.Sub(d.origin))
}

// timeAt is the time of a lease deadline, in the location of the first time
// the Dispatcher was given.
func (d *Dispatcher) timeAt(ns int64) time.Time { return d.origin.Add(time.Duration(ns)) }

// grant creates a task for r, leases it to w and takes a slot.
func (d *Dispatcher) grant(now time.Time, w *worker, r Range) *lease {
	l := &lease{d: d, task: d.nextTask, rng: r, w: w, checked: now,
		rec: tasklease.Grant(uint64(d.nextLease), string(w.id), 0, d.nanos(now), d.cfg.LeaseTTL.Nanoseconds(), 0)}
	d.nextLease++
	d.nextTask++
	d.stats.Tasks++
	d.leases[l.id()] = l
	d.open++
	d.inFlightUsers += r.Len()
	heap.Push(&d.expiry, expiryEntry{at: l.rec.Deadline, id: l.id()})
	w.busy++
	d.freeSlots--
	return l
}

// release frees l's slot and forgets it.
func (d *Dispatcher) release(l *lease) {
	delete(d.leases, l.id())
	if !l.finished {
		d.open--
		d.inFlightUsers -= l.remaining()
	}
	l.w.busy--
	if l.w.online {
		d.freeSlots++
	}
}

// live returns the lease with id, or the error its holder must get. The caller has
// taken back the leases expired by now, so a lease held here that the rules do not
// accept at now does not exist.
func (d *Dispatcher) live(id LeaseID, now time.Time) (*lease, error) {
	l, ok := d.leases[id]
	if ok && l.rec.Accepts(uint64(id), 0, d.nanos(now)) {
		return l, nil
	}
	if id > 0 && id < d.nextLease {
		d.stats.Fenced++
		return nil, fmt.Errorf("lease %d: expired or completed: %w", id, ErrFenced)
	}
	return nil, fmt.Errorf("lease %d: %w", id, ErrUnknownLease)
}

// Renew extends a lease by LeaseTTL from now and checkpoints done, the users processed
// from Range.Start, and learns the worker's rate from the progress. Then the slicer may
// cut the tail off: the returned Lease has a
// smaller Range.End, and the holder must stop there. A renewal that reports no progress
// since the last one tells the slicer the lease is stalled (a paused slot), so it may
// give away everything not done yet; the lease is then Finished and over.
func (d *Dispatcher) Renew(id LeaseID, now time.Time, done int64) (Lease, error) {
	d.expireDue(now)
	l, err := d.live(id, now)
	if err != nil {
		return Lease{}, err
	}
	if l.finished {
		return l.view(), nil
	}
	next := l.rng.Start + done
	if done < 0 || !l.rec.Forward(uint64(done), done, uint64(l.rng.Len()), l.rng.Len()) {
		return l.view(), fmt.Errorf("renew lease %d: done %d outside [%d, %d]: %w", id, done, l.rec.Done, l.rng.Len(), ErrProgress)
	}
	stalled := done == l.rec.Done
	if dt := now.Sub(l.checked).Seconds(); !stalled && dt > 0 {
		r := float64(done-l.rec.Done) / dt
		if l.w.rate == 0 {
			l.w.rate = r
		} else {
			l.w.rate += rateWeight * (r - l.w.rate)
		}
	}
	d.inFlightUsers -= done - l.rec.Done
	l.rec = l.rec.Checkpoint(d.nanos(now), uint64(done), done)
	l.checked = now
	heap.Push(&d.expiry, expiryEntry{at: l.rec.Deadline, id: l.id()})
	if rem := l.remaining(); rem > 0 {
		if keep := d.slicer.Keep(d.view(l.w), rem, stalled); keep >= 0 && keep < rem {
			cut := next + keep
			d.pending.pushFront(Range{Start: cut, End: l.rng.End})
			d.inFlightUsers -= l.rng.End - cut
			l.rng.End = cut
			d.stats.Splits++
		}
	}
	if l.view().Finished() {
		l.finished = true
		d.open--
		d.stats.Completed++
	}
	return l.view(), nil
}

// Complete records that the lease's holder processed its whole Range, which completes
// the task, and frees the slot; for a Finished lease it only frees the slot. A lease
// that expired gets ErrFenced: its users were handed out again.
func (d *Dispatcher) Complete(id LeaseID, now time.Time) error {
	d.expireDue(now)
	l, err := d.live(id, now)
	if err != nil {
		return err
	}
	if !l.finished {
		d.stats.Completed++
	}
	d.release(l)
	return nil
}

// Expire takes back every lease that ran out by now, including those found expired
// inside Renew, Complete and Assign since the last call, and returns them.
func (d *Dispatcher) Expire(now time.Time) []Expired {
	d.expireDue(now)
	out := d.expired
	d.expired = nil
	return out
}

// NextExpiry returns the earliest deadline of a held lease, if any: that lease is
// taken back at any time after it.
func (d *Dispatcher) NextExpiry() (time.Time, bool) {
	if l := d.nextToExpire(); l != nil {
		return d.timeAt(l.rec.Deadline), true
	}
	return time.Time{}, false
}

// nextToExpire returns the held lease with the earliest deadline, dropping the heap's
// stale entries on the way; nil if none is held.
func (d *Dispatcher) nextToExpire() *lease {
	for d.expiry.Len() > 0 {
		e := d.expiry[0]
		if l, ok := d.leases[e.id]; ok && l.rec.Deadline == e.at {
			return l
		}
		heap.Pop(&d.expiry)
	}
	return nil
}

// expireDue takes back every lease that has expired by now: its slot is freed and the
// users after its last checkpoint go to the front of the pending queue (a Finished
// lease has none).
func (d *Dispatcher) expireDue(now time.Time) {
	for {
		l := d.nextToExpire()
		if l == nil || !l.rec.Expired(d.nanos(now)) {
			return
		}
		heap.Pop(&d.expiry)
		d.release(l)
		if l.finished {
			continue // its users were done at the renewal that finished it
		}
		d.stats.Expired++
		lo, users := l.rec.TakeBack(0, l.rng.Len())
		x := Expired{Lease: l.view(), Returned: Range{Start: l.rng.Start + int64(lo), End: l.rng.Start + int64(lo) + users}}
		d.pending.pushFront(x.Returned)
		d.expired = append(d.expired, x)
	}
}

type expiryEntry struct {
	at int64 // the lease's deadline, in nanoseconds
	id LeaseID
}

// expiryHeap orders lease expiries, earliest first; entries for renewed or released
// leases are skipped when they reach the top.
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].id < h[j].id
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
