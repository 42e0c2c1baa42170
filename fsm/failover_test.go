package fsm

import (
	"errors"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
)

// failoverPair builds a zone and a failover store that starts from a
// replica of the zone which stopped after the first `replicated` entries.
func failoverPair(t *testing.T, zoneCmds []Command, replicated int, blacklist []uint64) (zone, store *harness) {
	t.Helper()
	zone, store = setup(t), setup(t)
	shards := Command{Type: CmdSetShards, Epoch: 1, Own: true, Shards: allShards()}
	zone.one(shards)
	store.one(shards)
	for i, c := range zoneCmds {
		if res := zone.one(c); res.Code != OK && res.Code != InsufficientCredit {
			t.Fatalf("zone command %d: %v %s", i, res.Code, res.Msg)
		}
		if i < replicated {
			store.one(c)
		}
	}
	var marks []Mark
	for _, u := range blacklist {
		marks = append(marks, Mark{User: u})
	}
	// The store takes the shards at the failover epoch; the zone gives
	// them up when the route table moves them.
	store.one(Command{Type: CmdFailover, NodeID: "A", Epoch: 2, Amount: 50, Marks: marks})
	store.one(Command{Type: CmdSetShards, Epoch: 2, Own: true, Shards: allShards()})
	zone.one(Command{Type: CmdSetShards, Epoch: 2, Own: false, Shards: allShards()})
	return zone, store
}

func allShards() []byte {
	s := make([]byte, NumShards)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

// mergeAll merges every shard of store into zone and returns the reports.
func mergeAll(t *testing.T, zone, store *harness, group string) []MergeReport {
	t.Helper()
	var out []MergeReport
	for s := 0; s < NumShards; s++ {
		recs, err := store.f.ExportFailoverShard(s)
		if err != nil {
			t.Fatal(err)
		}
		res := zone.one(Command{Type: CmdMerge, NodeID: group, Shards: []byte{byte(s)}, Records: recs, Time: t0 + 5000})
		if res.Code != OK {
			t.Fatalf("merge shard %d: %v %s", s, res.Code, res.Msg)
		}
		out = append(out, *res.Merge)
	}
	return out
}

// TestFailoverHardCase is the talk's hard case, step by step: a payment
// commits in the zone but has not reached the replica; its client times
// out; the zone is lost; the client retries the same key in the failover
// store, which accepts it; the zone returns and reconciliation keeps one
// copy, voids the other and reports it.
func TestFailoverHardCase(t *testing.T) {
	zoneCmds := []Command{
		putAcc(1, 1000), putAcc(2, 1000),
		pay(1, "k1", 100), pay(2, "m1", 100),
		pay(1, "k2", 50), // committed in the zone, never replicated: user 1 is marked
	}
	zone, store := failoverPair(t, zoneCmds, 4, []uint64{1})

	// The retry of k2 in the store: the replica never saw it, so it is new.
	if res := store.one(pay(1, "k2", 50)); res.Code != OK || res.Replay {
		t.Fatalf("retry of k2 in the store: %v replay=%v %s", res.Code, res.Replay, res.Msg)
	}
	// Replicated keys replay in the store.
	if res := store.one(pay(1, "k1", 100)); !res.Replay {
		t.Fatalf("k1 in the store: want a replay, got %+v", res)
	}
	// Flow-type business keeps flowing for the blacklisted account...
	if res := store.one(pay(1, "k3", 30)); res.Code != OK {
		t.Fatalf("new payment for an isolated account: %v %s", res.Code, res.Msg)
	}
	// ...within the stand-in limit: 50% of 1000, 80 taken so far. Past it,
	// the store refuses without deciding: the zone may have decided the
	// key already, so a decline here could contradict its acceptance. The
	// key stays undecided (nothing stored) until reconciliation.
	if res := store.one(pay(1, "k4", 421)); res.Code != Isolated {
		t.Fatalf("payment of an isolated account over the stand-in limit: got %v, want account_isolated", res.Code)
	}
	if _, err := store.f.Payment(1, "k4"); err == nil {
		t.Fatal("a refused payment of an isolated account was stored")
	}
	// State-type writes to it are refused, and change nothing.
	for _, c := range []Command{repay(1, "r1", 10), putAcc(1, 5000), {Type: CmdNotify, User: 1, Time: t0, Key: JobStatement, Cycle: CycleOf(t0)}} {
		if res := store.one(c); res.Code != Isolated {
			t.Fatalf("%v on an isolated account: got %v", c.Type, res.Code)
		}
	}
	if !store.account(1).Isolated || store.account(2).Isolated {
		t.Fatal("reads must say which accounts are isolated")
	}
	// An account that is not blacklisted goes on from the replica's state.
	if res := store.one(pay(2, "m2", 200)); res.Code != OK {
		t.Fatalf("pay user 2: %v", res.Code)
	}
	if n := store.postAll(); n != 2 { // m1, m2; user 1's payments wait
		t.Fatalf("store posted %d payments, want 2 (isolated accounts are not posted)", n)
	}
	if res := store.one(repay(2, "r2", 50)); res.Code != OK {
		t.Fatalf("repay user 2 in the store: %v %s", res.Code, res.Msg)
	}
	fi, err := store.f.Failover()
	if err != nil || fi == nil || fi.Payments != 3 || fi.Isolated != 1 {
		t.Fatalf("failover info: %+v %v", fi, err)
	}

	reports := mergeAll(t, zone, store, "A-f2")
	var voided []VoidedPayment
	taken, kept, merged := 0, 0, 0
	for _, r := range reports {
		voided = append(voided, r.Voided...)
		taken += r.Taken
		kept += r.Kept
		merged += r.Merged
		if len(r.Violations) > 0 {
			t.Fatalf("unexpected invariant violations: %+v", r)
		}
	}
	if len(voided) != 1 || voided[0] != (VoidedPayment{User: 1, Key: "k2", Amount: 50, ZoneAmount: 50}) {
		t.Fatalf("voided: %+v, want k2 once", voided)
	}
	if taken != 1 || kept != 1 || merged != 1 {
		t.Fatalf("taken %d kept %d merged %d, want 1 1 1", taken, kept, merged)
	}
	a1 := zone.account(1)
	if a1.Accepted != 180 || a1.Pending+a1.Used != 180 { // k1 + k2 (once) + k3
		t.Fatalf("user 1 after merge: %+v", a1)
	}
	a2 := zone.account(2)
	if a2.Accepted != 300 || a2.Repaid != 50 || a2.Used != 250 {
		t.Fatalf("user 2 after merge: %+v", a2)
	}
	// The zone takes its shards back and posts the merged payments.
	zone.one(Command{Type: CmdSetShards, Epoch: 3, Own: true, Shards: allShards()})
	zone.postAll()
	checkMoney(t, zone.f)

	// A second run of the reconciliation changes nothing.
	_, before, _ := zone.f.Digest()
	zone.one(Command{Type: CmdSetShards, Epoch: 4, Own: false, Shards: allShards()})
	again := mergeAll(t, zone, store, "A-f2")
	for i := range again {
		if len(again[i].Voided) != len(reports[i].Voided) || again[i].Taken != reports[i].Taken {
			t.Fatalf("second merge of shard %d reported %+v, first %+v", i, again[i], reports[i])
		}
	}
	zone.one(Command{Type: CmdSetShards, Epoch: 3, Own: true, Shards: allShards()}) // an older epoch: ignored
	a1b := zone.account(1)
	if a1b.Accepted != 180 {
		t.Fatalf("second merge changed user 1: %+v", a1b)
	}
	_ = before
}

// TestMergeDetectsABrokenInvariant: an account the guard failed to mark
// (the zone has a write the store lacks) is merged as if blacklisted, so
// nothing of the zone's is overwritten, and the report names it.
func TestMergeDetectsABrokenInvariant(t *testing.T) {
	zoneCmds := []Command{putAcc(7, 1000), pay(7, "a", 100), pay(7, "b", 100)}
	zone, store := failoverPair(t, zoneCmds, 2, nil) // "b" was not replicated and 7 is not marked
	if res := store.one(pay(7, "c", 100)); res.Code != OK {
		t.Fatal(res.Msg)
	}
	reports := mergeAll(t, zone, store, "A-f2")
	var viol []uint64
	for _, r := range reports {
		viol = append(viol, r.Violations...)
	}
	if len(viol) != 1 || viol[0] != 7 {
		t.Fatalf("violations %v, want [7]", viol)
	}
	if a := zone.account(7); a.Accepted != 300 {
		t.Fatalf("account 7 after merge: %+v (want a, b and c)", a)
	}
	for _, k := range []string{"a", "b", "c"} {
		if p, err := zone.f.Payment(7, k); err != nil || p.Status != api.PaymentAccepted {
			t.Fatalf("payment %s: %+v %v", k, p, err)
		}
	}
}

// TestGuardClearWatermarkAndSweep: clears raise the watermark, which never
// goes down, and a sweep removes only marks of earlier terms.
func TestGuardClearWatermarkAndSweep(t *testing.T) {
	h := setup(t)
	h.one(Command{Type: CmdMark, NodeID: "A", Marks: []Mark{{User: 1, Term: 2, Seq: 1}, {User: 2, Term: 3, Seq: 1}, {User: 3, Term: 3, Seq: 2}}})
	h.one(Command{Type: CmdGuardClear, NodeID: "A", Epoch: 40, Term: 3, Marks: []Mark{{User: 3, Term: 3, Seq: 2}}})
	if got, _ := h.f.Marks("A"); len(got) != 1 || got[0] != 2 {
		t.Fatalf("marks after sweep below term 3 and clear of 3: %v, want [2]", got)
	}
	h.one(Command{Type: CmdGuardClear, NodeID: "A", Epoch: 30})
	if w, err := h.f.GuardWatermark("A"); err != nil || w != 40 {
		t.Fatalf("watermark %d, want 40", w)
	}
	if w, err := h.f.GuardWatermark("B"); err != nil || w != 0 {
		t.Fatalf("watermark of another zone %d", w)
	}
	// A closed state file says so: a failover reading the watermark of a
	// replica being shut down must not take 0 for it.
	h.f.Close()
	if w, err := h.f.GuardWatermark("A"); !errors.Is(err, ErrClosed) {
		t.Fatalf("watermark of a closed state file: %d, %v; want ErrClosed", w, err)
	}
}

// TestPromotedReplicaServesNothingBeforeItsSetup: the copy of a lost zone's
// replica still says it owns the zone's shards; marked promoted, it takes
// no write until its CmdFailover has made it a failover store (with its
// blacklist and stand-in limit).
func TestPromotedReplicaServesNothingBeforeItsSetup(t *testing.T) {
	h := setup(t)
	h.one(Command{Type: CmdSetShards, Epoch: 1, Own: true, Shards: allShards()})
	h.one(putAcc(1, 1000))
	if err := h.f.MarkPromoted(); err != nil {
		t.Fatal(err)
	}
	if res := h.one(pay(1, "early", 10)); res.Code != WrongZone {
		t.Fatalf("payment before the setup: %v, want wrong_zone", res.Code)
	}
	if res := h.one(repay(1, "early-r", 10)); res.Code != WrongZone {
		t.Fatalf("repayment before the setup: %v, want wrong_zone", res.Code)
	}
	h.one(Command{Type: CmdFailover, NodeID: "A", Epoch: 2, Amount: 20, Marks: []Mark{{User: 1}}})
	if res := h.one(pay(1, "after", 10)); res.Code != OK {
		t.Fatalf("payment after the setup: %v %s", res.Code, res.Msg)
	}
	if res := h.one(repay(1, "after-r", 10)); res.Code != Isolated {
		t.Fatalf("repayment of a blacklisted account after the setup: %v", res.Code)
	}
}

// TestReconciledAccountOverItsLimit: reconciliation keeps every payment a
// failover store acknowledged, so an account can end over its credit line
// (the zone's own unreplicated payments plus the store's). Posting and
// repaying such an account must work (a replica that refused would stop
// the zone), and new payments are declined until it is back under.
func TestReconciledAccountOverItsLimit(t *testing.T) {
	zoneCmds := []Command{putAcc(1, 1000), pay(1, "a", 100), pay(1, "b", 800)} // "b" not replicated
	zone, store := failoverPair(t, zoneCmds, 2, []uint64{1})
	if res := store.one(pay(1, "c", 400)); res.Code != OK { // within the stand-in 50% of 1000, and the replica's 900 available
		t.Fatalf("store payment: %v %s", res.Code, res.Msg)
	}
	mergeAll(t, zone, store, "A-f2")
	zone.one(Command{Type: CmdSetShards, Epoch: 3, Own: true, Shards: allShards()})
	if a := zone.account(1); a.Accepted != 1300 || a.Used+a.Pending != 1300 || a.Available != 0 {
		t.Fatalf("account after the merge: %+v (want 1300 in use over a 1000 limit)", a)
	}
	zone.postAll()
	if res := zone.one(repay(1, "r", 100)); res.Code != OK {
		t.Fatalf("repay an over-limit account: %v %s", res.Code, res.Msg)
	}
	if res := zone.one(pay(1, "d", 1)); res.Code != InsufficientCredit {
		t.Fatalf("payment on an over-limit account: %v", res.Code)
	}
	checkMoneyNoLimit(t, zone.f)
}

// checkMoneyNoLimit is checkMoney without the limit bound.
func checkMoneyNoLimit(t *testing.T, f *FSM) {
	t.Helper()
	err := f.ForEachAccount(func(a api.Account) error {
		if a.Used < 0 || a.Pending < 0 || a.Used+a.Pending != a.Accepted-a.Repaid {
			t.Errorf("account %d breaks the money identity: %+v", a.User, a)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMergeCarriesTheOutbox: reconciliation carries a failover store's
// outbox into the zone, one entry per (job, cycle, user): a statement the
// store wrote while failed over is added (with its effect, so the job does
// not run again for the user), and one the store delivered is marked
// delivered in the zone, keeping the store's delivery time.
func TestMergeCarriesTheOutbox(t *testing.T) {
	const cy = 202611
	zoneCmds := []Command{putAcc(1, 1000), putAcc(2, 1000), putAcc(3, 1000),
		pay(1, "a", 100), pay(2, "b", 200), pay(3, "c", 300),
		{Type: CmdPost, Time: t0 + 1000, Posts: []PostRef{{User: 1, Key: "a"}, {User: 2, Key: "b"}, {User: 3, Key: "c"}}},
		notifyCmd(JobStatement, 1, cy), notifyCmd(JobStatement, 2, cy),
	}
	zone, store := failoverPair(t, zoneCmds, len(zoneCmds), nil)
	deliveredAt := t0 + 7000
	if r := store.one(delivered(deliveredAt, NoteRef{User: 1, Job: JobStatement, Cycle: cy})); r.Delivered != 1 {
		t.Fatalf("store's delivery of user 1: %+v", r)
	}
	if r := store.one(notifyCmd(JobStatement, 3, cy)); r.Code != OK {
		t.Fatalf("store's statement for user 3: %+v", r)
	}

	reports := mergeAll(t, zone, store, "A-f2")
	added, marked := 0, 0
	for _, r := range reports {
		added += r.Notifications
		marked += r.Delivered
	}
	if added != 1 || marked != 1 {
		t.Fatalf("merge reports %d notifications added and %d marked delivered, want 1 and 1", added, marked)
	}
	n1, _ := zone.f.Notifications(1)
	if len(n1) != 1 || n1[0].DeliveredAt != api.FormatTime(deliveredAt) {
		t.Fatalf("user 1's outbox after the merge: %+v", n1)
	}
	n3, _ := zone.f.Notifications(3)
	if len(n3) != 1 || n3[0].Job != JobStatement || n3[0].Amount != 300 || n3[0].DeliveredAt != "" {
		t.Fatalf("user 3's outbox after the merge: %+v", n3)
	}
	// The zone delivers them once the shards come home, not before.
	if und, _ := zone.f.Undelivered(10); len(und) != 0 || zone.f.UndeliveredCount() != 2 {
		t.Fatalf("zone's deliverable before the shards come home: %+v (count %d)", und, zone.f.UndeliveredCount())
	}
	zone.one(Command{Type: CmdSetShards, Epoch: 3, Own: true, Shards: allShards()})
	und, _ := zone.f.Undelivered(10)
	if len(und) != 2 || und[0].User != 2 || und[1].User != 3 || zone.f.UndeliveredCount() != 2 {
		t.Fatalf("zone's undelivered after the merge: %+v (count %d)", und, zone.f.UndeliveredCount())
	}
	// The store's statement is not made again.
	if r := zone.one(notifyCmd(JobStatement, 3, cy)); r.Code != OK || !r.Replay {
		t.Fatalf("statement for user 3 after the merge: %+v", r)
	}
	if n3, _ := zone.f.Notifications(3); len(n3) != 1 {
		t.Fatalf("user 3's outbox after a repeated statement: %+v", n3)
	}
}

// TestMergeComparesAccountsAndBills: a write the zone made after the
// replica that changed no payment or repayment (a credit-limit change) is
// found too, against the copy the store kept before its own first write to
// the account; and an account the store itself changed, the zone not, takes
// the store's state without a violation.
func TestMergeComparesAccountsAndBills(t *testing.T) {
	zoneCmds := []Command{
		putAcc(1, 1000), pay(1, "a", 100), putAcc(2, 1000), pay(2, "m", 100),
		putAcc(1, 5000), // not replicated, and 1 is not marked
	}
	zone, store := failoverPair(t, zoneCmds, 4, nil)
	if res := store.one(pay(1, "s", 10)); res.Code != OK {
		t.Fatal(res.Msg)
	}
	if res := store.one(putAcc(2, 3000)); res.Code != OK {
		t.Fatal(res.Msg)
	}
	reports := mergeAll(t, zone, store, "A-f2")
	var viol []uint64
	for _, r := range reports {
		viol = append(viol, r.Violations...)
	}
	if len(viol) != 1 || viol[0] != 1 {
		t.Fatalf("violations %v, want [1]: the zone's limit change the store lacked went unreported", viol)
	}
	if a := zone.account(1); a.CreditLimit != 5000 || a.Accepted != 110 {
		t.Fatalf("account 1 after merge: %+v (want the zone's limit and both payments)", a)
	}
	if a := zone.account(2); a.CreditLimit != 3000 {
		t.Fatalf("account 2 after merge: %+v (want the store's limit)", a)
	}
}

// TestStoreWithoutTheAccountDoesNotSayNotFound: the lost zone created an
// account (so it is marked, hence blacklisted) and took a payment for it,
// neither replicated; a retry of that payment in the failover store must
// not be answered "not found", which would contradict the charge the zone
// acknowledged: it waits for reconciliation (account_isolated), stores
// nothing. An account no zone ever marked is still not found.
func TestStoreWithoutTheAccountDoesNotSayNotFound(t *testing.T) {
	zoneCmds := []Command{putAcc(1, 1000), putAcc(9, 1000), pay(9, "k1", 100)}
	_, store := failoverPair(t, zoneCmds, 1, []uint64{9})
	res := store.one(pay(9, "k1", 100))
	if res.Code != Isolated {
		t.Fatalf("retry of a payment of an account the store lacks: %v %q, want account_isolated", res.Code, res.Msg)
	}
	if _, err := store.f.Payment(9, "k1"); err == nil {
		t.Fatal("the undecided payment was stored")
	}
	if res := store.one(pay(5, "x", 1)); res.Code != NotFound {
		t.Fatalf("a payment for an account nobody made: %v, want not found", res.Code)
	}
}
