package fsm

import (
	"fmt"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
	bolt "go.etcd.io/bbolt"
)

// TestLeftoverIndexEntriesDoNotStallPosting moves a shard with accepted,
// unposted payments to another zone, which posts them, and back before the
// first zone's poster ran: the first zone's payments are now posted, but
// its unposted index still names them. More such leftovers than a post
// batch sit at the front of the index; a payment made later must still be
// posted by a poster that takes a batch at a time from the front, and the
// index must end up empty.
func TestLeftoverIndexEntriesDoNotStallPosting(t *testing.T) {
	const batch = 2
	a, b := setup(t), setup(t)
	moved := []uint64{1, 101, 201, 301, 401} // shard 1
	for _, u := range moved {
		a.one(putAcc(u, 1000))
		if r := a.one(pay(u, "early", 100)); r.Code != OK {
			t.Fatalf("pay %d: %+v", u, r)
		}
	}
	a.one(putAcc(2, 1000))

	move := func(from, to *harness) {
		t.Helper()
		recs, err := from.f.ExportShard(1)
		if err != nil {
			t.Fatal(err)
		}
		if r := to.one(Command{Type: CmdIngest, Records: recs}); r.Code != OK {
			t.Fatalf("ingest: %+v", r)
		}
	}
	move(a, b)
	if n := b.postAll(); n != len(moved) {
		t.Fatalf("the other zone posted %d, want %d", n, len(moved))
	}
	move(b, a)
	for _, u := range moved {
		if p, err := a.f.Payment(u, "early"); err != nil || p.Status != api.PaymentPosted {
			t.Fatalf("payment %d/early back home: %+v %v", u, p, err)
		}
	}

	if r := a.one(pay(2, "later", 50)); r.Code != OK {
		t.Fatalf("later payment: %+v", r)
	}
	for tick := 0; tick < len(moved)+2; tick++ { // the leader's poster, one batch a tick
		refs, err := a.f.Unposted(batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) == 0 {
			break
		}
		a.one(Command{Type: CmdPost, Time: t0 + 1000, Posts: refs})
	}
	if p, err := a.f.Payment(2, "later"); err != nil || p.Status != api.PaymentPosted {
		t.Fatalf("later payment behind the leftovers: %+v %v, want posted", p, err)
	}
	if n := unpostedEntries(t, a.f); n != 0 {
		t.Fatalf("%d index entries left after posting everything", n)
	}
	checkMoney(t, a.f)
}

// TestPostDropsEntryOfPaymentNoLongerAccepted: a post naming a payment that
// is no longer accepted drops its index entry instead of skipping it.
func TestPostDropsEntryOfPaymentNoLongerAccepted(t *testing.T) {
	h := setup(t)
	h.one(putAcc(7, 1000))
	h.one(pay(7, "k", 100))
	// Another path (a reconciliation that settles the key otherwise)
	// leaves the payment declined with its index entry in place.
	err := h.f.db.Update(func(tx *bolt.Tx) error {
		var p paymentRec
		get(tx.Bucket(bucketPayments), userKey(7, "k"), &p)
		p.Status = api.PaymentDeclined
		put(tx.Bucket(bucketPayments), userKey(7, "k"), p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if refs, _ := h.f.Unposted(10); len(refs) != 0 {
		t.Fatalf("the poster is offered a payment that is not accepted: %v", refs)
	}
	h.one(Command{Type: CmdPost, Time: t0 + 1000, Posts: []PostRef{{User: 7, Key: "k"}}})
	if n := unpostedEntries(t, h.f); n != 0 {
		t.Fatalf("%d index entries left for a declined payment", n)
	}
}

func unpostedEntries(t *testing.T, f *FSM) int {
	t.Helper()
	n := 0
	if err := f.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketUnposted).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(fmt.Errorf("count unposted: %w", err))
	}
	return n
}
