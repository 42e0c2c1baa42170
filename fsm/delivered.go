package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/rzonedb/rzone/internal/api"
	bolt "go.etcd.io/bbolt"
)

// Delivery of the outbox (the transactional-outbox pattern). A scheduler
// effect writes its notification into the outbox in the same transaction as
// the bill change, and indexes it in bucketUndelivered. The zone's leader
// reads that index (Undelivered), hands each notification to the notifier,
// and records the deliveries with CmdNotifyDelivered, which stamps the
// outbox entry with the log time and drops it from the index. A leader that
// delivers and loses its term before the record commits leaves the entry
// undelivered, so the next leader delivers it again under the same key:
// delivery is at least once, and once per key at a downstream that
// deduplicates. keyUndelivered counts the index, for a gauge.

// keyUndelivered, in bucketMeta, is be64 the number of undelivered outbox
// entries.
var keyUndelivered = []byte("undelivered")

func undeliveredKey(index, user uint64) []byte {
	return binary.BigEndian.AppendUint64(be64(index), user)
}

func outboxKey(user, index uint64) []byte {
	return binary.BigEndian.AppendUint64(be64(user), index)
}

// addUndelivered adds delta to the count of undelivered entries.
func (a *applier) addUndelivered(delta int64) {
	meta := a.tx.Bucket(bucketMeta)
	var n uint64
	if v := meta.Get(keyUndelivered); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	if delta < 0 && n < uint64(-delta) {
		// The count moves only with the index apply keeps itself: a bug in rzone.
		panic(fmt.Sprintf("fsm: undelivered count %d would go below zero", n))
	}
	if err := meta.Put(keyUndelivered, be64(uint64(int64(n)+delta))); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: count undelivered: %v", err))
	}
}

// addOutbox writes n into user's outbox at index, or at the next index
// free for user (two notifications of a user in one entry; a merged entry
// whose index the zone's log used), and, unless it is delivered already,
// into the undelivered index.
func (a *applier) addOutbox(user, index uint64, n notificationRec) {
	outbox := a.tx.Bucket(bucketOutbox)
	for outbox.Get(outboxKey(user, index)) != nil { // records are never empty: Get is exact
		index++
	}
	put(outbox, outboxKey(user, index), n)
	if n.Delivered != 0 {
		return
	}
	if err := a.tx.Bucket(bucketUndelivered).Put(undeliveredKey(index, user), nil); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: index undelivered: %v", err))
	}
	a.addUndelivered(1)
}

// findOutbox returns the index and record of user's outbox entry for job and
// cycle (at most one exists: the effects bucket sees to it).
func findOutbox(tx *bolt.Tx, user uint64, job string, cycle uint32) (uint64, notificationRec, bool) {
	prefix := be64(user)
	cur := tx.Bucket(bucketOutbox).Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		var n notificationRec
		decode(v, &n)
		if n.Job == job && n.Cycle == cycle {
			return binary.BigEndian.Uint64(k[8:]), n, true
		}
	}
	return 0, notificationRec{}, false
}

// markDelivered records that user's notification at index was delivered at
// time at, if it was not already. It reports whether it changed anything.
func (a *applier) markDelivered(user, index uint64, n notificationRec, at int64) bool {
	if n.Delivered != 0 {
		return false
	}
	n.Delivered = at
	put(a.tx.Bucket(bucketOutbox), outboxKey(user, index), n)
	a.unindexUndelivered(user, index)
	return true
}

// unindexUndelivered takes user's outbox entry at index off the
// undelivered index.
func (a *applier) unindexUndelivered(user, index uint64) {
	if err := a.tx.Bucket(bucketUndelivered).Delete(undeliveredKey(index, user)); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: unindex undelivered: %v", err))
	}
	a.addUndelivered(-1)
}

// carryNote writes a notification carried from another state (a moved
// shard's source zone, a failover store) into user's outbox, once per
// (job, cycle): one the outbox lacks is added at index (or the next index
// free for user), delivered or not as it was, with its effect record, so
// that the job does not run again for the user here; one the outbox holds
// already is kept, and marked delivered if the carried one was. It reports
// whether it added the entry, and whether it marked one delivered.
func (a *applier) carryNote(user, index uint64, n notificationRec) (added, marked bool) {
	if at, have, ok := findOutbox(a.tx, user, n.Job, n.Cycle); ok {
		return false, n.Delivered != 0 && a.markDelivered(user, at, have, n.Delivered)
	}
	a.addOutbox(user, index, n)
	if err := a.tx.Bucket(bucketEffects).Put(effectKey(n.Job, n.Cycle, user), nil); err != nil {
		panic(fmt.Sprintf("fsm: carry effect: %v", err))
	}
	return true, false
}

// notifyDelivered marks the named notifications delivered at the command's
// time. A notification delivered before keeps its first time; one this
// state does not hold (its shard moved away, say) is skipped. It is no
// business write, so ownership and the failover blacklist do not refuse
// it: the delivery happened either way, and the mark only keeps it from
// being repeated.
func (a *applier) notifyDelivered(c *Command) Result {
	n := 0
	for _, ref := range c.Notes {
		if index, rec, ok := findOutbox(a.tx, ref.User, ref.Job, ref.Cycle); ok && a.markDelivered(ref.User, index, rec, c.Time) {
			n++
		}
	}
	return Result{Code: OK, Delivered: n}
}

// Undelivered returns up to limit outbox notifications not yet delivered,
// oldest first, of the users whose shard the zone serves now: a shard given
// up (moving away, or routed to a failover store) is delivered by the zone
// that takes it, which gets its outbox with its records.
func (f *FSM) Undelivered(limit int) ([]api.Notification, error) {
	var out []api.Notification
	// The delivery loop asks every 200 ms: a short read of the applied
	// state, not a state-file commit each time (viewFront).
	err := f.viewFront(func(tx *bolt.Tx, budget int) (bool, error) {
		out = out[:0]
		outbox := tx.Bucket(bucketOutbox)
		cur := tx.Bucket(bucketUndelivered).Cursor()
		for k, _ := cur.First(); k != nil && len(out) < limit; k, _ = cur.Next() {
			if budget--; budget == -1 {
				return false, nil
			}
			index, user := binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:])
			if ok, _ := owns(tx, user); !ok {
				continue
			}
			var n notificationRec
			if !get(outbox, outboxKey(user, index), &n) {
				return true, fmt.Errorf("undelivered index names a missing outbox entry %d/%d", user, index)
			}
			out = append(out, n.view(user, index))
		}
		return true, nil
	})
	return out, err
}

// UndeliveredCount is the number of outbox notifications not yet delivered.
func (f *FSM) UndeliveredCount() uint64 {
	var n uint64
	_ = f.viewLatest(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyUndelivered); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n
}
