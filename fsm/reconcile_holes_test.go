package fsm

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
)

// TestMergeOfOverflowingExportIsRefused: a store export listing thousands
// of posted payments of the largest amount for a blacklisted user, more
// than the account has ever accepted, would make the merge add them all to
// the zone's pending credit and overflow it (checkMoney's panic on every
// replica, on every restart). Validate refuses it, and apply answers
// invalid without panicking.
func TestMergeOfOverflowingExportIsRefused(t *testing.T) {
	zoneCmds := []Command{putAcc(7, 100_000), pay(7, "a", 1000)}
	zone, store := failoverPair(t, zoneCmds, len(zoneCmds), []uint64{7})
	valid, err := store.f.ExportFailoverShard(7)
	if err != nil {
		t.Fatal(err)
	}
	recs := slices.Clone(valid)
	for i := 0; i < 9300; i++ {
		v, _ := json.Marshal(paymentRec{Amount: api.MaxAmount, Merchant: "m", Status: api.PaymentPosted, Created: t0, Index: 5})
		recs = append(recs, Record{Bucket: "payments", Key: userKey(7, fmt.Sprintf("k%06d", i)), Value: v})
	}
	c := Command{Type: CmdMerge, NodeID: "A-f2", Shards: []byte{7}, Records: recs, Time: t0 + 5000}
	if err := c.Validate(); err == nil {
		t.Fatal("Validate took an export whose payments exceed what the account accepted")
	}
	if res := zone.one(c); res.Code != Invalid {
		t.Fatalf("apply: %v %s, want invalid", res.Code, res.Msg)
	}
	checkMoney(t, zone.f)
}

// TestBackupNotFailedOverUnderFailingOverZone: while A (backed up by B) is
// failing over, B may not be failed over: A's leader would find its backup
// gone and write unmarked while its lease lasts.
func TestBackupNotFailedOverUnderFailingOverZone(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	metaApply(t, m, &idx, MetaCmd{Type: MetaInit, Zones: []ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "C"}, {Name: "C", Backup: "A"}}})
	metaApply(t, m, &idx, MetaCmd{Type: MetaRenewLease, Zone: "A", Holder: "a1", Term: 2, DurationMs: 3000, Time: 1000})
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "A", Time: 2000}); r.Err != "" {
		t.Fatal(r.Err)
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaFailover, Zone: "B", Time: 2001}); r.Err == "" {
		_, pa, pb, _, _ := m.ZoneBrief("A")
		t.Fatalf("B failed over while A (backed up by B) is failing over: A phase %s, its backup's phase %s", pa, pb)
	}
}

// TestUndoneChargeLeavesAValidBill: the zone posted key k and the user
// repaid its bill; the client's retry of k (for another amount) was
// accepted by the store. Reconciliation keeps the store's k and undoes the
// zone's: the bill must still owe nothing below zero (so the shard can
// move again), the repaid money appears as owed back, and the money
// identity holds.
func TestUndoneChargeLeavesAValidBill(t *testing.T) {
	zone, store := setup(t), setup(t)
	shards := Command{Type: CmdSetShards, Epoch: 1, Own: true, Shards: allShards()}
	zone.one(shards)
	store.one(shards)
	zone.one(putAcc(7, 100_000))
	store.one(putAcc(7, 100_000))
	if r := zone.one(pay(7, "k", 1000)); r.Code != OK {
		t.Fatal(r.Msg)
	}
	zone.postAll()
	if r := zone.one(repay(7, "r", 1000)); r.Code != OK {
		t.Fatalf("repay: %v %s", r.Code, r.Msg)
	}
	store.one(Command{Type: CmdFailover, NodeID: "A", Epoch: 2, Amount: 50, Marks: []Mark{{User: 7}}})
	store.one(Command{Type: CmdSetShards, Epoch: 2, Own: true, Shards: allShards()})
	zone.one(Command{Type: CmdSetShards, Epoch: 2, Own: false, Shards: allShards()})
	if r := store.one(pay(7, "k", 2000)); r.Code != OK {
		t.Fatalf("store pay: %v %s", r.Code, r.Msg)
	}
	reps := mergeAll(t, zone, store, "A-f2")
	if len(reps[7].Contradicted) != 1 || len(reps[7].Unmerged) != 1 {
		t.Fatalf("report: %+v, want k contradicted and 1000 owed back", reps[7])
	}
	recs := exportShard(t, zone, 7)
	c := Command{Type: CmdIngest, Records: recs}
	if err := c.Validate(); err != nil {
		t.Fatalf("the merged shard can no longer be moved: %v", err)
	}
	a := zone.account(7)
	if a.Accepted != 2000 || a.Repaid != 0 || a.Used+a.Pending != a.Accepted-a.Repaid {
		t.Fatalf("account after merge: %+v", a)
	}
	zone.one(Command{Type: CmdSetShards, Epoch: 3, Own: true, Shards: allShards()})
	zone.postAll()
	checkMoneyRepaid(t, zone)
}

// checkMoneyRepaid is checkMoney for an account whose repaid total was
// lowered by money owed back: the repayment records still hold what was
// paid, so only the account's own identity and its bills are compared.
func checkMoneyRepaid(t *testing.T, h *harness) {
	t.Helper()
	err := h.f.ForEachAccount(func(a api.Account) error {
		var owed int64
		bills, _ := h.f.Bills(a.User)
		for _, b := range bills {
			if b.Outstanding < 0 {
				return fmt.Errorf("user %d: bill %s owes %d", a.User, b.Cycle, b.Outstanding)
			}
			owed += b.Outstanding
		}
		if a.Used < 0 || a.Pending < 0 || a.Used+a.Pending != a.Accepted-a.Repaid || owed != a.Used {
			return fmt.Errorf("user %d: %+v, bills owe %d", a.User, a, owed)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
