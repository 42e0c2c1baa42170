package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The base copy of a failover store: before the store's first write to an
// account, it keeps the account's record and bills as the replica had them
// (bucket fbase). Reconciliation compares the zone's account and bills
// with that copy, or with the store's own records where the store never
// wrote: any difference is a write the zone made after the replica the
// store started from, which the guard marks should have put on the
// blacklist. Payments and repayments are compared by key besides; the
// outbox is merged entry by entry and needs no comparison.

var bucketFBase = []byte("fbase") // be64(user) 'a' -> account at the store's start (empty: none); be64(user) 'b' be32(cycle) -> bill

const (
	baseAccount = 'a'
	baseBill    = 'b'
)

// keepBase, in a failover store, copies the base records of every account
// c writes to, once per account. In a zone it does nothing.
func (a *applier) keepBase(c *Command) {
	if _, ok := failoverMode(a.tx); !ok {
		return
	}
	switch c.Type {
	case CmdPutAccount, CmdPay, CmdRepay, CmdNotify:
		a.baseOf(c.User)
	case CmdPost:
		for _, p := range c.Posts {
			a.baseOf(p.User)
		}
	case CmdNotifyDelivered:
		for _, n := range c.Notes {
			a.baseOf(n.User)
		}
	}
}

func (a *applier) baseOf(user uint64) {
	base := a.tx.Bucket(bucketFBase)
	ak := append(be64(user), baseAccount)
	if has(base, ak) {
		return
	}
	acc := bytes.Clone(a.tx.Bucket(bucketAccounts).Get(be64(user)))
	if acc == nil {
		acc = []byte{}
	}
	if err := base.Put(ak, acc); err != nil {
		panic(fmt.Sprintf("fsm: base copy: %v", err))
	}
	prefix := be64(user)
	cur := a.tx.Bucket(bucketBills).Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if err := base.Put(append(append(be64(user), baseBill), k[8:]...), bytes.Clone(v)); err != nil {
			panic(fmt.Sprintf("fsm: base copy: %v", err))
		}
	}
}

// storeBase is one user's base copy in a store's export.
type storeBase struct {
	taken   bool
	account []byte
	bills   map[uint32][]byte
}

// addBase files an exported base record; false if malformed.
func (b *storeBase) add(key, value []byte) bool {
	switch {
	case len(key) == 9 && key[8] == baseAccount:
		b.taken = true
		if len(value) > 0 {
			b.account = value
		}
	case len(key) == 13 && key[8] == baseBill:
		if b.bills == nil {
			b.bills = map[uint32][]byte{}
		}
		b.bills[binary.BigEndian.Uint32(key[9:])] = value
	default:
		return false
	}
	return true
}

// zoneStateWithin reports whether the zone's account record and bills of
// user are the ones the store started from: the zone made no write to them
// after the replica the store was promoted from.
func (a *applier) zoneStateWithin(user uint64, su *storeUser) bool {
	acc, bills := su.account, su.bills
	if su.base.taken {
		acc, bills = su.base.account, su.base.bills
	}
	if !bytes.Equal(a.tx.Bucket(bucketAccounts).Get(be64(user)), acc) {
		return false
	}
	prefix := be64(user)
	n := 0
	cur := a.tx.Bucket(bucketBills).Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if len(k) != 12 {
			return false
		}
		if want, ok := bills[binary.BigEndian.Uint32(k[8:])]; !ok || !bytes.Equal(v, want) {
			return false
		}
		n++
	}
	return n == len(bills)
}
