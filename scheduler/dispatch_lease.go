package scheduler

import (
	"container/heap"
	"fmt"
	"time"
)

// LeaseID identifies one lease. Ids are issued in increasing order from 1 and never
// reused, so an id is also a fencing token: a newer lease on a task has a larger id.
type LeaseID uint64

// Lease is a task leased to one worker slot. The Dispatcher returns copies; changing one
// changes nothing.
type Lease struct {
	ID     LeaseID
	Task   TaskID
	Worker WorkerID
	// Range is what the holder must process. A renewal may shorten End (the tail was cut
	// and handed to another slot); the holder stops at the End it was last told.
	Range Range
	// Done is how many users from Range.Start the holder has processed, as of its last
	// accepted checkpoint (renewal). If the lease expires, the users from there on go
	// back to be handed out.
	Done int64
	// Expires is when the lease runs out unless renewed.
	Expires time.Time
	// Backup marks a speculative copy of a stalled task, fenced against the primary.
	Backup bool
}

// Expired is a lease that ran out, and the users it put back in the pending queue:
// empty when the lease had lost its task already or a fenced partner still runs it.
type Expired struct {
	Lease    Lease
	Returned Range
}

type lease struct {
	Lease
	w      *worker
	fenced bool // its task was completed by the other lease; tell the holder at its next call
}

func (l *lease) remaining() int64 { return l.Range.Len() - l.Done }

// grant creates a lease on t for range r and takes a slot of w.
func (d *Dispatcher) grant(now time.Time, w *worker, t *task, r Range, backup bool) *lease {
	l := &lease{Lease: Lease{
		ID: d.nextLease, Task: t.id, Worker: w.id, Range: r,
		Expires: now.Add(d.cfg.LeaseTTL), Backup: backup,
	}, w: w}
	d.nextLease++
	d.leases[l.ID] = l
	t.leases = append(t.leases, l)
	heap.Push(&d.expiry, expiryEntry{at: l.Expires, id: l.ID})
	w.busy++
	d.freeSlots--
	d.inFlight++
	return l
}

// release frees l's slot and forgets it.
func (d *Dispatcher) release(l *lease) {
	delete(d.leases, l.ID)
	delete(d.stalled, l.ID)
	d.inFlight--
	l.w.busy--
	if l.w.online {
		d.freeSlots++
	}
}

// live returns the lease with id, or the error its holder must get. A fenced lease is
// released here, when its holder learns of it.
func (d *Dispatcher) live(id LeaseID) (*lease, error) {
	l, ok := d.leases[id]
	if !ok {
		if id > 0 && id < d.nextLease {
			d.stats.Fenced++
			return nil, fmt.Errorf("lease %d: expired: %w", id, ErrFenced)
		}
		return nil, fmt.Errorf("lease %d: %w", id, ErrUnknownLease)
	}
	if l.fenced {
		d.release(l)
		d.stats.Fenced++
		return nil, fmt.Errorf("lease %d: task %d completed by another lease: %w", id, l.Task, ErrFenced)
	}
	return l, nil
}

// Renew extends a lease by LeaseTTL from now and checkpoints done, the users processed
// from Range.Start. A renewal that reports no progress marks the task stalled, a
// candidate for a backup. Otherwise the slicer may cut the tail off: the returned Lease
// then has a smaller Range.End, and the holder must stop there.
func (d *Dispatcher) Renew(id LeaseID, now time.Time, done int64) (Lease, error) {
	d.expireDue(now)
	l, err := d.live(id)
	if err != nil {
		return Lease{}, err
	}
	if done < l.Done || done > l.Range.Len() {
		return l.Lease, fmt.Errorf("renew lease %d: done %d outside [%d, %d]: %w", id, done, l.Done, l.Range.Len(), ErrProgress)
	}
	stalled := done == l.Done && done < l.Range.Len()
	l.Done = done
	l.Expires = now.Add(d.cfg.LeaseTTL)
	heap.Push(&d.expiry, expiryEntry{at: l.Expires, id: l.ID})
	if stalled {
		d.stalled[id] = true
	} else {
		delete(d.stalled, id)
	}
	t := d.tasks[l.Task]
	if (!stalled || !d.cfg.Backups) && len(t.leases) == 1 && l.remaining() > 0 {
		rem := l.remaining()
		if keep := d.slicer.Keep(d.View(), rem); keep >= 1 && keep < rem {
			cut := l.Range.Start + l.Done + keep
			d.pending.pushFront(Range{Start: cut, End: l.Range.End})
			l.Range.End = cut
			t.r.End = cut
			d.stats.Splits++
		}
	}
	return l.Lease, nil
}

// Complete records that the lease's holder processed its whole Range, which completes
// the task. If a fenced partner (primary or backup) still runs, it gets ErrFenced at its
// next call. A lease that already lost its task gets ErrFenced.
func (d *Dispatcher) Complete(id LeaseID, now time.Time) error {
	d.expireDue(now)
	l, err := d.live(id)
	if err != nil {
		return err
	}
	t := d.tasks[l.Task]
	for _, o := range t.leases {
		if o != l {
			o.fenced = true
			delete(d.stalled, o.ID)
		}
	}
	delete(d.tasks, t.id)
	d.release(l)
	d.stats.Completed++
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

// NextExpiry returns when the next lease runs out, if any is held.
func (d *Dispatcher) NextExpiry() (time.Time, bool) {
	for d.expiry.Len() > 0 {
		e := d.expiry[0]
		if l, ok := d.leases[e.id]; ok && l.Expires.Equal(e.at) {
			return e.at, true
		}
		heap.Pop(&d.expiry)
	}
	return time.Time{}, false
}

func (d *Dispatcher) expireDue(now time.Time) {
	for {
		at, ok := d.NextExpiry()
		if !ok || now.Before(at) {
			return
		}
		e := heap.Pop(&d.expiry).(expiryEntry)
		d.expire(d.leases[e.id])
	}
}

// expire takes back one lease: its slot is freed and, unless a partner still runs the
// task, the users after its last checkpoint go to the front of the pending queue.
func (d *Dispatcher) expire(l *lease) {
	d.release(l)
	d.stats.Expired++
	x := Expired{Lease: l.Lease}
	if !l.fenced {
		t := d.tasks[l.Task]
		for i, o := range t.leases {
			if o == l {
				t.leases = append(t.leases[:i], t.leases[i+1:]...)
				break
			}
		}
		if len(t.leases) == 0 {
			x.Returned = Range{Start: l.Range.Start + l.Done, End: l.Range.End}
			d.pending.pushFront(x.Returned)
			delete(d.tasks, t.id)
		}
	}
	d.expired = append(d.expired, x)
}

type expiryEntry struct {
	at time.Time
	id LeaseID
}

// expiryHeap orders lease expiries, earliest first; entries for renewed or released
// leases are skipped when they reach the top.
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
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
