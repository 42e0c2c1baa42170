package fsm

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// DuePage returns, in user order, up to limit users of shard with a bill for
// cycle whose ids lie in [from, hi], and the zone's count of all such users
// of the whole shard, read in the same transaction. The scheduler pages
// through a whole shard and checks the users it got against that count, so
// that a page lost or cut short is noticed rather than a user left out.
//
// The count walks every bill of the zone (all shards, all cycles), and the
// read commits the state file first: DueRange is the same page without
// either, for a read that does not check a count.
func (f *FSM) DuePage(shard int, cycle uint32, from, hi uint64, limit int) (users []uint64, count int64, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		bills := tx.Bucket(bucketBills)
		err := bills.ForEach(func(k, _ []byte) error {
			if u := binary.BigEndian.Uint64(k[:8]); int(u%NumShards) == shard && cycleFromBillKey(k) == cycle {
				count++
			}
			return nil
		})
		if err != nil {
			return err
		}
		users, _ = dueScan(nil, bills.Cursor(), be64(from), shard, cycle, hi, limit, -1)
		return nil
	})
	return users, count, err
}

// dueScanKeys is the most bill keys DueRange visits in one hold of the
// open transaction (viewLatest holds off apply meanwhile): about 50 µs
// (BenchmarkDuePage).
var dueScanKeys = 4096

// DueRange returns what DuePage does without the count: in user order, up
// to limit users of shard with a bill for cycle whose ids lie in [from, hi].
// It reads the applied state (viewLatest), without forcing a state-file
// commit, and costs a seek and a walk of the bills in the range, at most
// dueScanKeys of them per hold of the open transaction. Between holds
// entries may apply. A shard's bills are deleted only once it has been
// released (a move's drop) and a failover's merge replaces a user's bills
// within one entry, so while the zone serves the shard the answer holds
// every user due when the read began (and perhaps some that came due
// during it), in order: what a task's load, which checks it has at least
// the task's count of users, needs.
func (f *FSM) DueRange(shard int, cycle uint32, from, hi uint64, limit int) ([]uint64, error) {
	var users []uint64
	seek := be64(from)
	for seek != nil && len(users) < limit {
		err := f.viewLatest(func(tx *bolt.Tx) error {
			users, seek = dueScan(users, tx.Bucket(bucketBills).Cursor(), seek, shard, cycle, hi, limit, dueScanKeys)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return users, nil
}

// dueScan appends to users, from the bill key seek on, the users of shard
// with a bill for cycle up to hi, until users holds limit or it has visited
// maxKeys keys (-1: no cap). It returns users and, when it stopped at the
// cap, a copy of the first key it did not visit, where to go on (else nil).
func dueScan(users []uint64, cur *bolt.Cursor, seek []byte, shard int, cycle uint32, hi uint64, limit, maxKeys int) ([]uint64, []byte) {
	n := 0
	for k, _ := cur.Seek(seek); k != nil && len(users) < limit; k, _ = cur.Next() {
		u := binary.BigEndian.Uint64(k[:8])
		if u > hi {
			break
		}
		if n == maxKeys {
			return users, bytes.Clone(k)
		}
		n++
		if int(u%NumShards) == shard && cycleFromBillKey(k) == cycle {
			users = append(users, u)
		}
	}
	return users, nil
}
