package scheduler

import (
	"container/heap"
	"fmt"
	"time"
)

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
	// Expires is when the lease runs out unless renewed.
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
	Lease
	w        *worker
	checked  time.Time // when Done was last set: the grant, then each renewal
	finished bool      // ended at a renewal; only the slot is still held
}

func (l *lease) remaining() int64 { return l.Range.Len() - l.Done }

// grant creates a task for r, leases it to w and takes a slot.
func (d *Dispatcher) grant(now time.Time, w *worker, r Range) *lease {
	l := &lease{Lease: Lease{
		ID: d.nextLease, Task: d.nextTask, Worker: w.id, Range: r, Expires: now.Add(d.cfg.LeaseTTL),
	}, w: w, checked: now}
	d.nextLease++
	d.nextTask++
	d.stats.Tasks++
	d.leases[l.ID] = l
	d.open++
	d.inFlightUsers += r.Len()
	heap.Push(&d.expiry, expiryEntry{at: l.Expires, id: l.ID})
	w.busy++
	d.freeSlots--
	return l
}

// release frees l's slot and forgets it.
func (d *Dispatcher) release(l *lease) {
	delete(d.leases, l.ID)
	if !l.finished {
		d.open--
		d.inFlightUsers -= l.remaining()
	}
	l.w.busy--
	if l.w.online {
		d.freeSlots++
	}
}

// live returns the lease with id, or the error its holder must get.
func (d *Dispatcher) live(id LeaseID) (*lease, error) {
	l, ok := d.leases[id]
	if ok {
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
	l, err := d.live(id)
	if err != nil {
		return Lease{}, err
	}
	if l.finished {
		return l.Lease, nil
	}
	if done < l.Done || done > l.Range.Len() {
		return l.Lease, fmt.Errorf("renew lease %d: done %d outside [%d, %d]: %w", id, done, l.Done, l.Range.Len(), ErrProgress)
	}
	stalled := done == l.Done
	if dt := now.Sub(l.checked).Seconds(); !stalled && dt > 0 {
		r := float64(done-l.Done) / dt
		if l.w.rate == 0 {
			l.w.rate = r
		} else {
			l.w.rate += rateWeight * (r - l.w.rate)
		}
	}
	d.inFlightUsers -= done - l.Done
	l.Done = done
	l.checked = now
	l.Expires = now.Add(d.cfg.LeaseTTL)
	heap.Push(&d.expiry, expiryEntry{at: l.Expires, id: l.ID})
	if rem := l.remaining(); rem > 0 {
		if keep := d.slicer.Keep(d.view(l.w), rem, stalled); keep >= 0 && keep < rem {
			cut := l.Range.Start + l.Done + keep
			d.pending.pushFront(Range{Start: cut, End: l.Range.End})
			d.inFlightUsers -= l.Range.End - cut
			l.Range.End = cut
			d.stats.Splits++
		}
	}
	if l.Finished() {
		l.finished = true
		d.open--
		d.stats.Completed++
	}
	return l.Lease, nil
}

// Complete records that the lease's holder processed its whole Range, which completes
// the task, and frees the slot; for a Finished lease it only frees the slot. A lease
// that expired gets ErrFenced: its users were handed out again.
func (d *Dispatcher) Complete(id LeaseID, now time.Time) error {
	d.expireDue(now)
	l, err := d.live(id)
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

// expireDue takes back every lease that ran out by now: its slot is freed and the users
// after its last checkpoint go to the front of the pending queue (a Finished lease has
// none).
func (d *Dispatcher) expireDue(now time.Time) {
	for {
		at, ok := d.NextExpiry()
		if !ok || now.Before(at) {
			return
		}
		e := heap.Pop(&d.expiry).(expiryEntry)
		l := d.leases[e.id]
		d.release(l)
		if l.finished {
			continue // its users were done at the renewal that finished it
		}
		d.stats.Expired++
		x := Expired{Lease: l.Lease, Returned: Range{Start: l.Range.Start + l.Done, End: l.Range.End}}
		d.pending.pushFront(x.Returned)
		d.expired = append(d.expired, x)
	}
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
