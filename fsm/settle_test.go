package fsm

import (
	"fmt"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
)

// settleCase builds the ways a zone and its failover store can decide one
// key differently, and returns the zone after reconciliation with the merge
// reports. The zone's answers for these keys were never replicated, so its
// client got no answer and retried each key in the store, which decided it
// afresh:
//
//   - k-declined (user 1, blacklisted): the zone declined it (no credit
//     left), the store accepted it (the replica lacks the zone's last
//     payments, so it had room);
//   - k-accepted (user 2): the zone accepted it, the store declined it over
//     the stand-in limit. User 2 was not marked (a guard mark lost), so the
//     store decided it as for a current account;
//   - k-posted (user 3): like k-accepted, but the zone had posted it into a
//     bill.
func settleCase(t *testing.T) (*harness, []MergeReport) {
	t.Helper()
	zoneCmds := []Command{
		putAcc(1, 1000), putAcc(2, 1000), putAcc(3, 1000),
		pay(1, "base", 100),
		// Never replicated; only user 1 is marked in the backup.
		pay(1, "fill", 850),       // user 1 has 50 left in the zone
		pay(1, "k-declined", 200), // declined in the zone
		pay(2, "k-accepted", 300), // accepted in the zone
		pay(2, "extra", 10),
		pay(3, "k-posted", 300), // accepted in the zone, then posted
		pay(3, "extra", 10),
		{Type: CmdPost, Time: t0 + 1000, Posts: []PostRef{{User: 3, Key: "k-posted"}}},
	}
	zone, store := failoverPair(t, zoneCmds, 4, []uint64{1})
	if p, _ := zone.f.Payment(1, "k-declined"); p.Status != api.PaymentDeclined {
		t.Fatalf("k-declined in the zone: %+v", p)
	}
	if p, _ := zone.f.Payment(3, "k-posted"); p.Status != api.PaymentPosted {
		t.Fatalf("k-posted in the zone: %+v", p)
	}
	// The store: a 50% stand-in on a 1000 line leaves 500 per user.
	if res := store.one(pay(1, "k-declined", 200)); res.Code != OK || res.Replay {
		t.Fatalf("k-declined retried in the store: %v %s", res.Code, res.Msg)
	}
	for _, u := range []uint64{2, 3} {
		if res := store.one(pay(u, "other", 400-100*int64(u-2))); res.Code != OK {
			t.Fatalf("pay user %d in the store: %v %s", u, res.Code, res.Msg)
		}
	}
	if res := store.one(pay(2, "k-accepted", 300)); res.Code != InsufficientCredit {
		t.Fatalf("k-accepted retried in the store: %v %s (want declined over the stand-in limit)", res.Code, res.Msg)
	}
	if res := store.one(pay(3, "k-posted", 300)); res.Code != InsufficientCredit {
		t.Fatalf("k-posted retried in the store: %v %s (want declined over the stand-in limit)", res.Code, res.Msg)
	}
	return zone, mergeAll(t, zone, store, "A-f2")
}

// settleProblems checks the zone after reconciliation against the answers
// the client received (guarantee 8): every key the store acknowledged
// stands; it returns what does not.
func settleProblems(zone *harness, reports []MergeReport) []string {
	var out []string
	want := map[string]string{"1/k-declined": api.PaymentAccepted, "2/k-accepted": api.PaymentDeclined, "3/k-posted": api.PaymentDeclined}
	for uk, status := range want {
		var u uint64
		var k string
		fmt.Sscanf(uk, "%d/%s", &u, &k)
		p, err := zone.f.Payment(u, k)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", uk, err))
			continue
		}
		charged := p.Status != api.PaymentDeclined
		if charged != (status != api.PaymentDeclined) {
			out = append(out, fmt.Sprintf("%s is %s after reconciliation, the client was answered %s", uk, p.Status, status))
		}
	}
	// Money: user 1 is charged base, fill and k-declined; users 2 and 3
	// "other" and "extra".
	for u, accepted := range map[uint64]int64{1: 1150, 2: 410, 3: 310} {
		if a := zone.account(u); a.Accepted != accepted || a.Used+a.Pending != a.Accepted-a.Repaid {
			out = append(out, fmt.Sprintf("user %d: accepted %d, want %d (%+v)", u, a.Accepted, accepted, a))
		}
	}
	var contradicted int
	for _, r := range reports {
		for _, c := range r.Contradicted {
			contradicted++
			if c.Zone.Status == c.Store.Status {
				out = append(out, fmt.Sprintf("contradicted key %d/%s reports one decision twice: %+v", c.User, c.Key, c))
			}
		}
	}
	if contradicted != 3 {
		out = append(out, fmt.Sprintf("the report lists %d contradicted keys, want 3", contradicted))
	}
	return out
}

// TestReconcileKeepsTheStoresAnswer: where the zone and its failover store
// decided one key differently, the store's decision (the one the client
// received) stands after reconciliation, the money follows it, the bill a
// posted payment went into is corrected, and the report names each key
// with both decisions.
func TestReconcileKeepsTheStoresAnswer(t *testing.T) {
	zone, reports := settleCase(t)
	for _, p := range settleProblems(zone, reports) {
		t.Error(p)
	}
	zone.one(Command{Type: CmdSetShards, Epoch: 3, Own: true, Shards: allShards()})
	zone.postAll()
	checkMoneyLimit(t, zone.f, false) // user 1 is over its limit: the store's answer stands
	bills, err := zone.f.Bills(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bills {
		if b.Principal != 310 {
			t.Errorf("user 3's bill still holds the undone payment: %+v", b)
		}
	}
}
