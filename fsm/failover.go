package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/internal/money"
	bolt "go.etcd.io/bbolt"
)

// A failover store is a zone's async follower promoted into a new group
// when the zone is lost (docs/DESIGN.md, Failover). Its first command,
// CmdFailover, turns this state machine into one: it records the blacklist
// (the accounts the zone's leader had marked in the backup zone: their
// latest writes may be missing here) and the stand-in limit. From then on:
//
//   - payments keep flowing for every account, blacklisted or not, but the
//     payments a failover store accepts for a user may not add up to more
//     than the stand-in share of the user's credit line: the replicated
//     state the credit check starts from may lack the zone's last payments;
//   - state-type writes (repayments, posting, limit changes, scheduled bill
//     actions) to a blacklisted account are refused with Isolated;
//   - every payment accepted here is listed (bucket fpays), so that
//     reconciliation can tell them from the replicated ones.
//
// Reconciliation merges the store back into the zone shard by shard
// (CmdMerge, applied in the zone): a blacklisted account keeps the zone's
// state and gains the store's payments whose keys the zone does not know; a
// key accepted in both is kept once (the zone's copy) and the store's copy
// is voided and reported. Any other account takes the store's state, which
// equals the zone's plus the failover writes (by the guard-mark invariant,
// checked here: if the zone holds a payment or repayment the store lacks,
// or its account or bills differ from the ones the store started from
// (failover_base.go), the account is merged as if blacklisted and the merge
// reports it).

var (
	bucketIsolated = []byte("isolated") // be64(user) -> empty: the failover blacklist
	bucketFPays    = []byte("fpays")    // be64(user) key -> empty: payments a failover store decided (accepted or declined)
	bucketMerged   = []byte("merged")   // group 0x00 shard -> MergeReport: shards merged back, for idempotency

	keyFailover = []byte("failover") // in bucketMeta: failoverRec
	// keyPromoted marks a promoted replica not yet made a failover store:
	// it owns no shard until its CmdFailover (the copy still says it owns
	// the lost zone's shards).
	keyPromoted = []byte("promoted")
)

// DefaultStandinPercent is the stand-in limit when none is configured: a
// failover store accepts payments for a user up to this share of the
// user's credit line in all.
const DefaultStandinPercent = 20

type failoverRec struct {
	Zone       string `json:"zone"`
	Epoch      uint64 `json:"epoch"`
	StandinPct int64  `json:"standin_pct"`
	Index      uint64 `json:"index"` // log index of the CmdFailover entry
	Isolated   int    `json:"isolated"`
}

// FailoverInfo describes a failover store (from its CmdFailover).
type FailoverInfo struct {
	Zone       string `json:"zone"`
	Epoch      uint64 `json:"epoch"`
	StandinPct int64  `json:"standin_pct"`
	Index      uint64 `json:"index"`
	Isolated   int    `json:"isolated"`
	Payments   int    `json:"payments"` // payments accepted by the store
	Amount     int64  `json:"amount"`   // their sum
}

// failover makes this state machine a failover store. A second CmdFailover
// changes nothing: the blacklist is fixed when the store starts.
func (a *applier) failover(c *Command) Result {
	meta := a.tx.Bucket(bucketMeta)
	if meta.Get(keyFailover) != nil {
		return Result{Code: OK, Replay: true}
	}
	if c.Amount < 0 || c.Amount > 100 {
		return Result{Code: Invalid, Msg: fmt.Sprintf("stand-in share %d%% out of range 0..100", c.Amount)}
	}
	iso := a.tx.Bucket(bucketIsolated)
	n := 0
	for _, m := range c.Marks {
		if has(iso, be64(m.User)) {
			continue
		}
		if err := iso.Put(be64(m.User), nil); err != nil {
			// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
			panic(fmt.Sprintf("fsm: isolate: %v", err))
		}
		n++
	}
	put(meta, keyFailover, failoverRec{Zone: c.NodeID, Epoch: c.Epoch, StandinPct: c.Amount, Index: a.index, Isolated: n})
	if err := meta.Delete(keyPromoted); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: clear promoted: %v", err))
	}
	return Result{Code: OK}
}

// MarkPromoted records, in the state file of a replica being promoted into
// a failover store (before its new group starts, so every member gets it
// with the first snapshot), that it owns no shard until its CmdFailover.
func (f *FSM) MarkPromoted() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	if err := f.pend.flush(); err != nil {
		return err
	}
	return f.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyPromoted, []byte{1})
	})
}

// failoverMode returns the store's record, or false in an ordinary zone.
func failoverMode(tx *bolt.Tx) (failoverRec, bool) {
	var r failoverRec
	ok := get(tx.Bucket(bucketMeta), keyFailover, &r)
	return r, ok
}

// isolated reports whether user is blacklisted in a failover store.
func isolated(tx *bolt.Tx, user uint64) bool {
	return has(tx.Bucket(bucketIsolated), be64(user))
}

// refuseIsolated is the result for a state-type write to a blacklisted
// account, or nil when the write may go on.
func refuseIsolated(tx *bolt.Tx, user uint64, what string) *Result {
	if !isolated(tx, user) {
		return nil
	}
	fr, _ := failoverMode(tx)
	return &Result{Code: Isolated, Msg: fmt.Sprintf(
		"account %d is isolated while zone %s is failed over: its latest state may be missing from the failover store, so %s waits for reconciliation (payments are still taken)",
		user, fr.Zone, what)}
}

// standin checks a payment against the stand-in limit of a failover store
// and, when it fits, records it as a failover payment. It returns a
// decline message, or "".
func (a *applier) standin(user uint64, key string, amount int64, acc *accountRec) string {
	if msg := a.standinRoom(user, amount, acc); msg != "" {
		return msg
	}
	a.storeDecided(user, key)
	return ""
}

// standinRoom returns why a payment of amount does not fit user's stand-in
// limit in a failover store, or "" when it fits (always, in a zone).
func (a *applier) standinRoom(user uint64, amount int64, acc *accountRec) string {
	fr, ok := failoverMode(a.tx)
	if !ok {
		return ""
	}
	fp := a.tx.Bucket(bucketFPays)
	var taken int64
	prefix := be64(user)
	payments := a.tx.Bucket(bucketPayments)
	cur := fp.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		var p paymentRec
		if get(payments, k, &p) && p.Status != api.PaymentDeclined {
			taken += p.Amount
		}
	}
	limit := acc.Limit * fr.StandinPct / 100
	if taken+amount > limit {
		return fmt.Sprintf("amount %s exceeds the failover stand-in limit: %d%% of the credit line (%s) less %s already taken in failover",
			money.Format(amount), fr.StandinPct, money.Format(limit), money.Format(taken))
	}
	return ""
}

// refuseUndecidable refuses, without deciding, a payment a failover store
// cannot accept for a blacklisted account: over the stand-in limit or the
// replica's available credit. Such an account's latest state is in the
// lost zone, which may have decided this very key (its client retrying
// after an answer that never came), so a decline here could contradict an
// acceptance the zone acknowledged. The store only ever accepts a
// blacklisted account's payments; the rest wait for reconciliation, where a
// retry gets the zone's decision or a fresh one. Nil when the payment may be
// decided here.
func (a *applier) refuseUndecidable(c *Command, acc *accountRec, avail int64) *Result {
	if !isolated(a.tx, c.User) {
		return nil
	}
	why := ""
	if c.Amount > avail {
		why = fmt.Sprintf("amount %s exceeds the available credit %s the failover store knows of", money.Format(c.Amount), money.Format(avail))
	} else if msg := a.standinRoom(c.User, c.Amount, acc); msg != "" {
		why = msg
	}
	if why == "" {
		return nil
	}
	fr, _ := failoverMode(a.tx)
	return &Result{Code: Isolated, Msg: fmt.Sprintf(
		"payment %q for account %d is not decided while zone %s is failed over: %s, and the account's latest state is in zone %s; retry it after reconciliation (nothing was charged)",
		c.Key, c.User, fr.Zone, why, fr.Zone)}
}

// storeDecided lists a payment key a failover store decided itself,
// accepted or declined, so that reconciliation can tell its decisions from
// the ones it replicated from the zone. An ordinary zone lists nothing.
func (a *applier) storeDecided(user uint64, key string) {
	if _, ok := failoverMode(a.tx); !ok {
		return
	}
	if err := a.tx.Bucket(bucketFPays).Put(userKey(user, key), nil); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: record failover payment: %v", err))
	}
}

// Failover returns the store's description, or nil for an ordinary zone.
func (f *FSM) Failover() (*FailoverInfo, error) {
	var out *FailoverInfo
	err := f.view(func(tx *bolt.Tx) error {
		r, ok := failoverMode(tx)
		if !ok {
			return nil
		}
		out = &FailoverInfo{Zone: r.Zone, Epoch: r.Epoch, StandinPct: r.StandinPct, Index: r.Index, Isolated: r.Isolated}
		payments := tx.Bucket(bucketPayments)
		return tx.Bucket(bucketFPays).ForEach(func(k, _ []byte) error {
			var p paymentRec
			if get(payments, k, &p) && p.Status != api.PaymentDeclined {
				out.Payments++
				out.Amount += p.Amount
			}
			return nil
		})
	})
	return out, err
}

// Isolated reports whether user is on a failover store's blacklist.
func (f *FSM) Isolated(user uint64) bool {
	var ok bool
	_ = f.viewLatest(func(tx *bolt.Tx) error {
		ok = isolated(tx, user)
		return nil
	})
	return ok
}

// failoverBuckets are exported with a shard for a merge, besides the shard
// buckets and effectBuckets.
var failoverBuckets = [][]byte{bucketIsolated, bucketFPays, bucketFBase}

// ExportFailoverShard returns a failover store's records of shard: the
// shard's data, its blacklist and failover-payment entries, its outbox and
// its effect records.
func (f *FSM) ExportFailoverShard(shard int) ([]Record, error) {
	return f.exportShard(shard, slices.Concat(shardBuckets, failoverBuckets, effectBuckets))
}

// MergeReport is what merging one shard of a failover store did.
type MergeReport struct {
	Group string `json:"group"`
	Shard int    `json:"shard"`
	// Taken counts accounts that took the store's state (not blacklisted,
	// current in the store); Kept those that kept the zone's.
	Taken int `json:"taken"`
	Kept  int `json:"kept"`
	// Merged counts the store's payments added to kept accounts.
	Merged int `json:"merged"`
	// Voided lists failover payments whose key the zone had accepted too:
	// the zone's copy stands, the store's is void.
	Voided []VoidedPayment `json:"voided,omitempty"`
	// Contradicted lists keys that the zone and the store decided
	// differently: the store's decision, the one its client saw, stands.
	Contradicted []ContradictedKey `json:"contradicted,omitempty"`
	// Violations lists accounts not on the blacklist whose zone state had
	// writes the store lacked (the guard-mark invariant broken); they were
	// merged as if blacklisted. Unmerged lists store writes that could not
	// be carried over (repayments on such accounts).
	Violations []uint64 `json:"violations,omitempty"`
	Unmerged   []string `json:"unmerged,omitempty"`
	// Notifications counts the store's outbox entries the zone lacked and
	// took (written while failed over); Delivered the zone's undelivered
	// entries the store had delivered, now marked delivered.
	Notifications int `json:"notifications,omitempty"`
	Delivered     int `json:"delivered,omitempty"`
}

// VoidedPayment is a failover payment dropped at reconciliation because its
// key was accepted in the zone as well.
type VoidedPayment = api.VoidedPayment

// ContradictedKey is a payment key the zone and the failover store decided
// differently (api.ContradictedKey).
type ContradictedKey = api.ContradictedKey

func mergedKey(group string, shard byte) []byte {
	return append(append([]byte(group), 0), shard)
}

// storeUser is one user's records in a failover store's export.
type storeUser struct {
	account    []byte
	payments   map[string][]byte
	repayments map[string][]byte
	bills      map[uint32][]byte
	isolated   bool
	fpays      map[string]bool
	outbox     []storeNote // in index order
	effects    [][]byte    // effect record keys
	base       storeBase   // the account and bills the store started from
}

// storeNote is one outbox entry of a failover store.
type storeNote struct {
	index uint64
	rec   []byte
}

// merge merges one shard of a failover store into this zone. The zone must
// not own the shard meanwhile (reconciliation moves it here afterwards). A
// shard merged before returns its first report and changes nothing, so a
// reconciliation cut short is finished by running it again.
func (a *applier) merge(c *Command) Result {
	if len(c.Shards) != 1 || int(c.Shards[0]) >= NumShards || c.NodeID == "" {
		return Result{Code: Invalid, Msg: "merge needs a failover group and one shard"}
	}
	shard := c.Shards[0]
	done := a.tx.Bucket(bucketMerged)
	mk := mergedKey(c.NodeID, shard)
	var rep MergeReport
	if get(done, mk, &rep) {
		return Result{Code: OK, Replay: true, Merge: &rep}
	}
	if ok, _ := owns(a.tx, uint64(shard)); ok && a.tx.Bucket(bucketMeta).Get(keySharded) != nil {
		return Result{Code: Invalid, Msg: fmt.Sprintf("shard %d is owned here; merge it only while it is released", shard)}
	}
	users, _ := groupRecords(c.Records, int(shard), mergeBuckets) // checked by Validate
	rep = MergeReport{Group: c.NodeID, Shard: int(shard)}
	ids := make([]uint64, 0, len(users))
	for u := range users {
		ids = append(ids, u)
	}
	slices.Sort(ids)
	for _, u := range ids {
		su := users[u]
		if su.account == nil {
			continue // no account in the store: nothing to carry over
		}
		a.mergeOutbox(u, su, &rep)
		if !su.isolated && a.zoneWithin(u, su) {
			a.reportTaken(u, su, &rep)
			a.takeStore(u, su)
			rep.Taken++
			continue
		}
		if !su.isolated {
			rep.Violations = append(rep.Violations, u)
		}
		a.keepZone(u, su, c.Time, &rep)
		rep.Kept++
	}
	put(done, mk, rep)
	return Result{Code: OK, Merge: &rep}
}

// zoneWithin reports whether every payment and repayment the zone holds for
// user is in the store too, and the zone's account and bills are the ones
// the store started from (failover_base.go): the store then holds the
// zone's state plus its own writes, and may replace it.
func (a *applier) zoneWithin(user uint64, su *storeUser) bool {
	if !a.zoneStateWithin(user, su) {
		return false
	}
	prefix := be64(user)
	for _, b := range []struct {
		bucket []byte
		have   map[string][]byte
	}{{bucketPayments, su.payments}, {bucketRepayments, su.repayments}} {
		cur := a.tx.Bucket(b.bucket).Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			if _, ok := b.have[string(k[8:])]; !ok {
				return false
			}
		}
	}
	return true
}

// reportTaken lists, before an account takes the store's state, the keys
// the store decided itself that the zone had decided otherwise: the store's
// decision stands, as it does in keepZone.
func (a *applier) reportTaken(user uint64, su *storeUser, rep *MergeReport) {
	payments := a.tx.Bucket(bucketPayments)
	for _, key := range sortedKeys(su.fpays) {
		var zp, sp paymentRec
		if !get(payments, userKey(user, key), &zp) || su.payments[key] == nil {
			continue
		}
		decode(su.payments[key], &sp)
		if (zp.Status == api.PaymentDeclined) != (sp.Status == api.PaymentDeclined) || zp.Amount != sp.Amount {
			rep.Contradicted = append(rep.Contradicted, ContradictedKey{
				User: user, Key: key,
				Zone:  api.Decision{Status: zp.Status, Amount: zp.Amount, Index: zp.Index},
				Store: api.Decision{Status: sp.Status, Amount: sp.Amount, Index: sp.Index},
			})
		}
	}
}

// takeStore replaces the zone's records of user with the store's.
func (a *applier) takeStore(user uint64, su *storeUser) {
	prefix := be64(user)
	a.dropUnposted(user)
	for _, name := range [][]byte{bucketPayments, bucketRepayments, bucketBills} {
		b := a.tx.Bucket(name)
		var keys [][]byte
		cur := b.Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
				panic(fmt.Sprintf("fsm: merge: %v", err))
			}
		}
	}
	var acc accountRec
	decode(su.account, &acc)
	acc.LastIndex = a.index
	acc.checkMoney(user)
	put(a.tx.Bucket(bucketAccounts), prefix, acc)
	payments := a.tx.Bucket(bucketPayments)
	for _, key := range sortedKeys(su.payments) {
		// The store's log continues the zone's, so a payment keeps the
		// index it was acknowledged with.
		if err := payments.Put(userKey(user, key), su.payments[key]); err != nil {
			// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
			panic(fmt.Sprintf("fsm: merge: %v", err))
		}
		var p paymentRec
		decode(su.payments[key], &p)
		if p.Status == api.PaymentAccepted {
			if err := a.tx.Bucket(bucketUnposted).Put(unpostedKey(p.Index, user, key), nil); err != nil {
				// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
				panic(fmt.Sprintf("fsm: index unposted: %v", err))
			}
		}
	}
	for _, key := range sortedKeys(su.repayments) {
		if err := a.tx.Bucket(bucketRepayments).Put(userKey(user, key), su.repayments[key]); err != nil {
			// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
			panic(fmt.Sprintf("fsm: merge: %v", err))
		}
	}
	cycles := make([]uint32, 0, len(su.bills))
	for cy := range su.bills {
		cycles = append(cycles, cy)
	}
	slices.Sort(cycles)
	for _, cy := range cycles {
		if err := a.tx.Bucket(bucketBills).Put(billKey(user, cy), su.bills[cy]); err != nil {
			// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
			panic(fmt.Sprintf("fsm: merge: %v", err))
		}
	}
}

// keepZone keeps the zone's state of user and adds the store's payments
// whose keys the zone does not know (they were accepted, or acknowledged as
// replays, while the zone was away). A failover payment whose key the zone
// accepted too is void.
func (a *applier) keepZone(user uint64, su *storeUser, now int64, rep *MergeReport) {
	accounts := a.tx.Bucket(bucketAccounts)
	payments := a.tx.Bucket(bucketPayments)
	var acc accountRec
	if !get(accounts, be64(user), &acc) {
		// The account was created in the zone's unreplicated tail... or
		// never; the store's record is the only one.
		decode(su.account, &acc)
		acc.Used, acc.Pending, acc.Accepted, acc.Repaid = 0, 0, 0, 0
	}
	for _, key := range sortedKeys(su.payments) {
		var sp paymentRec
		decode(su.payments[key], &sp)
		var zp paymentRec
		if get(payments, userKey(user, key), &zp) {
			if su.fpays[key] {
				a.settleTwice(user, key, &acc, zp, sp, rep)
			}
			continue
		}
		if sp.Status == api.PaymentDeclined {
			put(payments, userKey(user, key), sp)
			continue
		}
		// It keeps the index the store acknowledged it with (the store's
		// log continues the zone's), so a replay answers as the first
		// acknowledgement did.
		sp.Status = api.PaymentAccepted
		sp.Posted = 0
		put(payments, userKey(user, key), sp)
		if err := a.tx.Bucket(bucketUnposted).Put(unpostedKey(sp.Index, user, key), nil); err != nil {
			// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
			panic(fmt.Sprintf("fsm: index unposted: %v", err))
		}
		acc.Pending += sp.Amount
		acc.Accepted += sp.Amount
		rep.Merged++
	}
	repayments := a.tx.Bucket(bucketRepayments)
	for _, key := range sortedKeys(su.repayments) {
		if repayments.Get(userKey(user, key)) == nil {
			rep.Unmerged = append(rep.Unmerged, fmt.Sprintf("repayment %d/%s", user, key))
		}
	}
	acc.Updated = max(acc.Updated, now)
	acc.LastIndex = a.index
	acc.checkMoney(user)
	put(accounts, be64(user), acc)
}

// settleTwice settles a key that both the zone and the failover store
// decided, each on its own: the zone decided it in the tail its backup never
// replicated, and the store decided it afresh when the client retried it
// there. The client retried because the zone's answer never reached it, so
// the store's decision is the one a client can have seen as final, and it
// stands (guarantee 8): a key the store accepted is charged exactly once, a
// key it declined is not charged at all, whatever the zone did. Where the
// two agree (both charged the same amount), the zone's copy is kept and the
// store's is reported voided as a duplicate; where they differ, the zone's
// decision is undone, the store's is applied, and the key is reported as
// contradicted with both decisions.
func (a *applier) settleTwice(user uint64, key string, acc *accountRec, zp, sp paymentRec, rep *MergeReport) {
	zoneCharged, storeCharged := zp.Status != api.PaymentDeclined, sp.Status != api.PaymentDeclined
	if inject.On(inject.ZoneWinsMerge) {
		// The planted bug: the zone's copy always wins.
		if storeCharged {
			rep.Voided = append(rep.Voided, VoidedPayment{User: user, Key: key, Amount: sp.Amount, ZoneAmount: zp.Amount})
		}
		return
	}
	switch {
	case !zoneCharged && !storeCharged:
		return // declined on both sides: nobody is charged
	case zoneCharged && storeCharged && zp.Amount == sp.Amount && zp.Merchant == sp.Merchant:
		rep.Voided = append(rep.Voided, VoidedPayment{User: user, Key: key, Amount: sp.Amount, ZoneAmount: zp.Amount})
		return
	}
	rep.Contradicted = append(rep.Contradicted, ContradictedKey{
		User: user, Key: key,
		Zone:  api.Decision{Status: zp.Status, Amount: zp.Amount, Index: zp.Index},
		Store: api.Decision{Status: sp.Status, Amount: sp.Amount, Index: sp.Index},
	})
	if zoneCharged {
		if short := a.uncharge(user, key, acc, zp); short > 0 {
			// Stored in the merge record (replicated state): its text
			// stays as earlier versions wrote it, in minor units, so that
			// replicas on two versions during an upgrade store alike.
			rep.Unmerged = append(rep.Unmerged, fmt.Sprintf("payment %d/%s undone: %d of it had been repaid and is owed back to the user", user, key, short))
		}
	}
	payments := a.tx.Bucket(bucketPayments)
	if !storeCharged {
		put(payments, userKey(user, key), sp)
		return
	}
	sp.Status, sp.Posted = api.PaymentAccepted, 0
	put(payments, userKey(user, key), sp)
	if err := a.tx.Bucket(bucketUnposted).Put(unpostedKey(sp.Index, user, key), nil); err != nil {
		panic(fmt.Sprintf("fsm: index unposted: %v", err))
	}
	acc.Pending += sp.Amount
	acc.Accepted += sp.Amount
}

// uncharge takes back the charge of a payment the zone had accepted: from
// pending credit, or, once posted, from its bill and used credit. What the
// user had already repaid of its bill beyond what the bill still owes comes
// off the bill's paid amount and the repaid total, and is returned as owed
// back to the user.
func (a *applier) uncharge(user uint64, key string, acc *accountRec, zp paymentRec) (short int64) {
	switch zp.Status {
	case api.PaymentAccepted:
		if err := a.tx.Bucket(bucketUnposted).Delete(unpostedKey(zp.Index, user, key)); err != nil {
			panic(fmt.Sprintf("fsm: unindex payment: %v", err))
		}
		acc.Pending -= zp.Amount
	case api.PaymentPosted:
		// Off its bill; what had been paid of the bill beyond what it now
		// owes is repaid money owed back to the user: off the bill's paid
		// amount and the account's repaid total, so the bill stays one
		// that owes nothing less than zero.
		bills := a.tx.Bucket(bucketBills)
		bk := billKey(user, CycleOf(zp.Created))
		var b billRec
		if get(bills, bk, &b) {
			b.Principal -= zp.Amount
			b.Payments--
			if over := -b.outstanding(); over > 0 {
				b.Paid -= over
				short = over
			}
			put(bills, bk, b)
		}
		acc.Used -= zp.Amount - short
		acc.Repaid -= short
	}
	acc.Accepted -= zp.Amount
	return short
}

// mergeOutbox carries a store's outbox and effect records of user into the
// zone, one outbox entry per (job, cycle) (carryNote): an entry the zone
// lacks (the store wrote it while failed over) is added, with its effect,
// so that the job does not run again for the user; one the zone holds too
// is kept as the zone's, marked delivered if the store delivered it. An
// added entry keeps the store's index where the zone has not used it for
// the user. Every effect the store recorded is recorded here too, those
// without a notification included (a reminder of a bill paid meanwhile).
func (a *applier) mergeOutbox(user uint64, su *storeUser, rep *MergeReport) {
	slices.SortFunc(su.outbox, func(x, y storeNote) int { return cmpUint(x.index, y.index) })
	for _, sn := range su.outbox {
		var n notificationRec
		decode(sn.rec, &n)
		added, marked := a.carryNote(user, sn.index, n)
		if added {
			rep.Notifications++
		}
		if marked {
			rep.Delivered++
		}
	}
	slices.SortFunc(su.effects, bytes.Compare)
	for _, k := range su.effects {
		if err := a.tx.Bucket(bucketEffects).Put(k, nil); err != nil {
			// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
			panic(fmt.Sprintf("fsm: merge effect: %v", err))
		}
	}
}

// dropUnposted removes user's entries from the unposted index.
func (a *applier) dropUnposted(user uint64) {
	b := a.tx.Bucket(bucketUnposted)
	var keys [][]byte
	_ = b.ForEach(func(k, _ []byte) error {
		if len(k) >= 16 && binary.BigEndian.Uint64(k[8:16]) == user {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
			panic(fmt.Sprintf("fsm: unindex: %v", err))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Merged returns the reports of the shards of group merged into this zone,
// in shard order.
func (f *FSM) Merged(group string) ([]MergeReport, error) {
	var out []MergeReport
	prefix := append([]byte(group), 0)
	err := f.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketMerged).Cursor()
		for k, v := cur.Seek(prefix); k != nil && len(k) == len(prefix)+1 && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var r MergeReport
			decode(v, &r)
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// guardClear clears marks like CmdClearMarks, sweeps marks of earlier
// terms when asked, and raises the zone's clear watermark: the backup
// replicas' applied index the clears rest on. A promotion must start from a
// replica that has applied at least that far.
func (a *applier) guardClear(c *Command) Result {
	a.clearMarks(c)
	b := a.tx.Bucket(bucketMarks)
	if c.Term > 0 {
		prefix := append([]byte(c.NodeID), 0)
		var drop [][]byte
		cur := b.Cursor()
		for k, v := cur.Seek(prefix); k != nil && len(k) == len(prefix)+8 && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var r markRec
			decode(v, &r)
			if r.Term < c.Term {
				drop = append(drop, bytes.Clone(k))
			}
		}
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
				panic(fmt.Sprintf("fsm: sweep mark: %v", err))
			}
		}
	}
	wk := append([]byte(c.NodeID), 1)
	var w uint64
	if v := b.Get(wk); len(v) == 8 {
		w = binary.BigEndian.Uint64(v)
	}
	if c.Epoch > w {
		if err := b.Put(wk, be64(c.Epoch)); err != nil {
			// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
			panic(fmt.Sprintf("fsm: watermark: %v", err))
		}
	}
	return Result{Code: OK}
}

// GuardWatermark is the highest backup applied index zone's clears rested
// on. The error is the state file's (ErrClosed once closed): a failover
// must not read a watermark of 0 from a replica that could not say.
func (f *FSM) GuardWatermark(zone string) (uint64, error) {
	var w uint64
	err := f.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMarks).Get(append([]byte(zone), 1)); len(v) == 8 {
			w = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return w, err
}
