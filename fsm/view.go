package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/rzonedb/rzone/internal/api"
	bolt "go.etcd.io/bbolt"
)

func decode(data []byte, v any) {
	if err := decodeRecord(data, v); err != nil {
		// Records are written by put, or by ingest and merge after Validate decoded them strictly: a bug in rzone (or a damaged file).
		panic(fmt.Sprintf("fsm: corrupt record: %v", err))
	}
}

// Account reads a user's account; ErrNotFound if there is none.
func (f *FSM) Account(user uint64) (*api.Account, error) {
	var out *api.Account
	err := f.viewLatest(func(tx *bolt.Tx) error {
		var r accountRec
		if !get(tx.Bucket(bucketAccounts), be64(user), &r) {
			return fmt.Errorf("%w: account %d", ErrNotFound, user)
		}
		out = r.view(user)
		out.Isolated = isolated(tx, user)
		return nil
	})
	return out, err
}

// Payment reads one payment by its key.
func (f *FSM) Payment(user uint64, key string) (*api.Payment, error) {
	var out *api.Payment
	err := f.viewLatest(func(tx *bolt.Tx) error {
		var r paymentRec
		if !get(tx.Bucket(bucketPayments), userKey(user, key), &r) {
			return fmt.Errorf("%w: payment %q of user %d", ErrNotFound, key, user)
		}
		out = r.view(user, key)
		return nil
	})
	return out, err
}

// Payments lists up to limit of a user's payments with keys after after, in
// key order, and the key to continue from ("" when there are no more).
func (f *FSM) Payments(user uint64, after string, limit int) ([]api.Payment, string, error) {
	out := []api.Payment{}
	var next string
	err := f.viewLatest(func(tx *bolt.Tx) error {
		prefix := be64(user)
		cur := tx.Bucket(bucketPayments).Cursor()
		k, v := cur.Seek(userKey(user, after))
		if after != "" && k != nil && bytes.Equal(k, userKey(user, after)) {
			k, v = cur.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(out) == limit {
				next = out[len(out)-1].Key
				break
			}
			var r paymentRec
			decode(v, &r)
			out = append(out, *r.view(user, string(k[8:])))
		}
		return nil
	})
	return out, next, err
}

// Repayment reads one repayment by its key.
func (f *FSM) Repayment(user uint64, key string) (*api.Repayment, error) {
	var out *api.Repayment
	err := f.viewLatest(func(tx *bolt.Tx) error {
		var r repaymentRec
		if !get(tx.Bucket(bucketRepayments), userKey(user, key), &r) {
			return fmt.Errorf("%w: repayment %q of user %d", ErrNotFound, key, user)
		}
		out = r.view(user, key)
		return nil
	})
	return out, err
}

// Bills lists every bill of a user, oldest cycle first.
func (f *FSM) Bills(user uint64) ([]api.Bill, error) {
	out := []api.Bill{}
	err := f.viewLatest(func(tx *bolt.Tx) error {
		prefix := be64(user)
		cur := tx.Bucket(bucketBills).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var b billRec
			decode(v, &b)
			out = append(out, b.view(user, cycleFromBillKey(k)))
		}
		return nil
	})
	return out, err
}

// Bill reads one bill.
func (f *FSM) Bill(user uint64, cycle uint32) (*api.Bill, error) {
	var out *api.Bill
	err := f.viewLatest(func(tx *bolt.Tx) error {
		var b billRec
		if !get(tx.Bucket(bucketBills), billKey(user, cycle), &b) {
			return fmt.Errorf("%w: bill %s of user %d", ErrNotFound, api.FormatCycle(cycle), user)
		}
		v := b.view(user, cycle)
		out = &v
		return nil
	})
	return out, err
}

func cycleFromBillKey(k []byte) uint32 { return binary.BigEndian.Uint32(k[8:12]) }

func (b *billRec) view(user uint64, cycle uint32) api.Bill {
	status := api.BillOpen
	if b.Principal > 0 && b.outstanding() == 0 {
		status = api.BillPaid
	}
	return api.Bill{
		User:        user,
		Cycle:       api.FormatCycle(cycle),
		Principal:   b.Principal,
		Fees:        b.Fees,
		Paid:        b.Paid,
		Outstanding: b.outstanding(),
		DueDate:     DueDate(cycle),
		Status:      status,
		Payments:    b.Payments,
		Statement:   b.Statement,
		StatementAt: api.FormatTime(b.Statemented),
		UpdatedAt:   api.FormatTime(b.Updated),
	}
}

// Unposted returns up to limit accepted payments not yet posted, oldest
// first, for the leader's poster. An index entry whose payment is not
// accepted under that entry's index (posted, declined or replaced since) is
// passed over, so that no number of such entries at the front of the index
// can stall posting.
func (f *FSM) Unposted(limit int) ([]PostRef, error) {
	refs, _, err := f.UnpostedSince(limit)
	return refs, err
}

// UnpostedSince is Unposted that also returns when the oldest of them was
// accepted (the leader's time stamped in its entry, Unix milliseconds; 0
// when none waits). The poster asks every round: a short read of the
// applied state, not a state-file commit each time (viewFront).
func (f *FSM) UnpostedSince(limit int) (refs []PostRef, oldest int64, err error) {
	err = f.viewFront(func(tx *bolt.Tx, budget int) (bool, error) {
		refs, oldest = refs[:0], 0
		payments := tx.Bucket(bucketPayments)
		cur := tx.Bucket(bucketUnposted).Cursor()
		for k, _ := cur.First(); k != nil && len(refs) < limit; k, _ = cur.Next() {
			if budget--; budget == -1 {
				return false, nil
			}
			ref := PostRef{User: binary.BigEndian.Uint64(k[8:16]), Key: string(k[16:])}
			var p paymentRec
			if !get(payments, userKey(ref.User, ref.Key), &p) || p.Status != api.PaymentAccepted || p.Index != binary.BigEndian.Uint64(k[:8]) {
				continue
			}
			if len(refs) == 0 {
				oldest = p.Created
			}
			refs = append(refs, ref)
		}
		return true, nil
	})
	return refs, oldest, err
}

// NodeAddrs returns the HTTP address recorded for every node id.
func (f *FSM) NodeAddrs() (map[string]string, error) {
	out := map[string]string{}
	err := f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			var n nodeRec
			decode(v, &n)
			out[string(k)] = n.HTTPAddr
			return nil
		})
	})
	return out, err
}

// ForEachAccount calls fn with a copy of every account in user order, inside
// one read transaction, so the accounts form a consistent cut.
func (f *FSM) ForEachAccount(fn func(a api.Account) error) error {
	return f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			var r accountRec
			decode(v, &r)
			return fn(*r.view(binary.BigEndian.Uint64(k)))
		})
	})
}

// Digest is a SHA-256 over every bucket's keys and values in order: two
// replicas at the same applied index must have the same digest.
func (f *FSM) Digest() (applied uint64, sum [32]byte, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		applied = readApplied(tx)
		sum, err = digestTx(tx)
		return err
	})
	return applied, sum, err
}

func digestTx(tx *bolt.Tx) (sum [32]byte, err error) {
	h := sha256.New()
	for _, name := range allBuckets {
		fmt.Fprintf(h, "bucket %s\n", name)
		err := tx.Bucket(name).ForEach(func(k, v []byte) error {
			var n [8]byte
			h.Write(binary.BigEndian.AppendUint64(n[:0], uint64(len(k))))
			h.Write(k)
			h.Write(binary.BigEndian.AppendUint64(n[:0], uint64(len(v))))
			h.Write(v)
			return nil
		})
		if err != nil {
			return sum, err
		}
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// WriteSnapshot writes the whole state file, as one read transaction sees
// it, to w (the body of a backup, which Restore takes back), and returns
// the applied index and the state digest (Digest) of that same view.
func (f *FSM) WriteSnapshot(w io.Writer) (applied uint64, digest [32]byte, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		applied = readApplied(tx)
		if digest, err = digestTx(tx); err != nil {
			return err
		}
		_, err := tx.WriteTo(w)
		return err
	})
	if err != nil {
		return 0, digest, fmt.Errorf("fsm: write snapshot: %w", err)
	}
	return applied, digest, nil
}
