package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
)

// TestPostKeepsUpWithTheBacklog: one poster round books a backlog larger
// than one posting entry holds (entry after entry, up to zone.PostRounds),
// so booking keeps up with any rate a zone accepts payments at; a backlog
// larger than a round leaves rzone_post_behind_seconds above zero until a
// later round books it.
func TestPostKeepsUpWithTheBacklog(t *testing.T) {
	tc := setupWith(t, 1, func(c *Config) { c.PostInterval = time.Hour }) // the test drives the poster
	nd := tc.nodes[0]
	ctx := context.Background()
	const users, batch = 20, 10
	var as []client.BatchAccount
	for u := uint64(1); u <= users; u++ {
		as = append(as, client.BatchAccount{User: u, CreditLimit: client.MaxAmount})
	}
	if _, err := tc.client.PutAccounts(ctx, as); err != nil {
		t.Fatal(err)
	}
	pay := func(n int, tag string) {
		t.Helper()
		for i := 0; i < n; i += 100 {
			var ps []client.BatchPayment
			for j := i; j < min(n, i+100); j++ {
				ps = append(ps, client.BatchPayment{User: uint64(1 + j%users), Key: fmt.Sprintf("%s-%d", tag, j), Amount: 1, Merchant: "m"})
			}
			res, err := tc.client.PayBatch(ctx, ps)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Error != nil {
					t.Fatal(r.Error)
				}
			}
		}
	}

	// 40 entries' worth: one round books them all.
	pay(40*batch, "a")
	time.Sleep(20 * time.Millisecond) // the oldest waits a little: its age shows
	r := nd.zones.Post(batch)
	if r.Posted != 40*batch {
		t.Fatalf("one round booked %d of %d payments waiting (%d per entry)", r.Posted, 40*batch, batch)
	}
	if len(r.Behind) != 1 {
		t.Fatalf("behind figures for %d groups, want the one this node leads: %v", len(r.Behind), r.Behind)
	}
	for g, d := range r.Behind {
		if d != 0 {
			t.Fatalf("group %s reported %s behind after booking everything", g, d)
		}
	}

	// More than a round holds: what is left shows as behind, and the
	// next round books it.
	pay(60*batch, "b")
	time.Sleep(20 * time.Millisecond)
	r = nd.zones.Post(batch)
	if r.Posted >= 60*batch {
		t.Fatalf("one round booked %d, more than %d entries of %d hold", r.Posted, 50, batch)
	}
	for g, d := range r.Behind {
		if d < 20*time.Millisecond || d > time.Minute {
			t.Fatalf("group %s: %s behind with %d payments left unbooked; want the oldest's age", g, d, 60*batch-r.Posted)
		}
	}
	left := 60*batch - r.Posted
	if r = nd.zones.Post(batch); r.Posted != left {
		t.Fatalf("the next round booked %d, want the %d left", r.Posted, left)
	}
	for _, u := range []uint64{1, users} {
		a, err := tc.client.GetAccount(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if a.Pending != 0 || a.Used != 50 {
			t.Fatalf("account %d: pending %d used %d, want 0 and 50 (every payment booked once)", u, a.Pending, a.Used)
		}
	}

}
