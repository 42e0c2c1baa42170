package fsm

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// DuePage returns, in user order, up to limit users of shard with a bill for
// cycle whose ids lie in [from, hi], and the zone's count of all such users
// of the whole shard, read in the same transaction. The scheduler pages
// through a shard and checks the users it got against that count, so that a
// page lost or cut short is noticed rather than a user left out.
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
		cur := bills.Cursor()
		for k, _ := cur.Seek(be64(from)); k != nil && len(users) < limit; k, _ = cur.Next() {
			u := binary.BigEndian.Uint64(k[:8])
			if u > hi {
				break
			}
			if int(u%NumShards) == shard && cycleFromBillKey(k) == cycle {
				users = append(users, u)
			}
		}
		return nil
	})
	return users, count, err
}
