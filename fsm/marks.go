package fsm

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Guard marks: a zone's leader marks an account in its backup zone's group
// before it commits a write to it, and clears the mark once the backup
// replicas have applied past the account's last write (see zone.Guard). This
// state machine holds the marks of the zones it backs up.

var bucketMarks = []byte("marks") // zone 0x00 be64(user) -> markRec

// Mark is one guard mark or clear: an account of a zone, stamped with the
// leader term and sequence that asked for it.
type Mark struct {
	User uint64
	Term uint64
	Seq  uint64
}

type markRec struct {
	Term uint64 `json:"term"`
	Seq  uint64 `json:"seq"`
}

func markKey(zone string, user uint64) []byte {
	k := make([]byte, 0, len(zone)+9)
	k = append(k, zone...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, user)
}

func newer(aTerm, aSeq, bTerm, bSeq uint64) bool {
	return aTerm > bTerm || (aTerm == bTerm && aSeq > bSeq)
}

// mark sets marks; a mark keeps the highest (term, seq) it was given.
func (a *applier) mark(c *Command) Result {
	b := a.tx.Bucket(bucketMarks)
	for _, m := range c.Marks {
		k := markKey(c.NodeID, m.User)
		var r markRec
		if !get(b, k, &r) || newer(m.Term, m.Seq, r.Term, r.Seq) {
			put(b, k, markRec{Term: m.Term, Seq: m.Seq})
		}
	}
	return Result{Code: OK}
}

// clearMarks removes marks no newer than the clear: a mark set again by a
// newer leader, or after the clear was computed, stays.
func (a *applier) clearMarks(c *Command) Result {
	b := a.tx.Bucket(bucketMarks)
	for _, m := range c.Marks {
		k := markKey(c.NodeID, m.User)
		var r markRec
		if get(b, k, &r) && !newer(r.Term, r.Seq, m.Term, m.Seq) {
			if err := b.Delete(k); err != nil {
				// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
				panic(fmt.Sprintf("fsm: clear mark: %v", err))
			}
		}
	}
	return Result{Code: OK}
}

// Marks returns the users of zone that hold a mark, in user order.
func (f *FSM) Marks(zone string) ([]uint64, error) {
	var out []uint64
	prefix := append([]byte(zone), 0)
	err := f.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketMarks).Cursor()
		for k, _ := cur.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, _ = cur.Next() {
			out = append(out, binary.BigEndian.Uint64(k[len(prefix):]))
		}
		return nil
	})
	return out, err
}
