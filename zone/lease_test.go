package zone

import (
	"testing"
	"time"

	"github.com/rzonedb/rzone/fsm"
)

// TestLeaseExtendNeverShortens: a renewal that returns late (its lease
// counted from an earlier send) never moves the lease's end back.
func TestLeaseExtendNeverShortens(t *testing.T) {
	var l Lease
	if l.Until() != 0 || l.Valid() {
		t.Fatalf("zero lease: until %d, valid %v", l.Until(), l.Valid())
	}
	now := monoNow()
	l.extend(now + int64(time.Hour))
	l.extend(now + int64(time.Minute))
	if got := l.Until(); got != now+int64(time.Hour) {
		t.Fatalf("until %d, want %d", got, now+int64(time.Hour))
	}
	if !l.Valid() {
		t.Fatal("lease ending in an hour is not valid")
	}
}

// TestLeaseWaitCountsFromFirstSighting: the promotion wait counts a grant's
// full duration plus margin from when this node first saw that grant, and
// a new grant starts the count again; a zone never granted has none.
func TestLeaseWaitCountsFromFirstSighting(t *testing.T) {
	k := NewLeaseKeeper(nil, DriverConfig{LeaseDuration: 2 * time.Second}, nil)
	if w := k.Wait(fsm.Lease{Zone: "A"}, time.Second); w != 0 {
		t.Fatalf("never granted: wait %v", w)
	}
	l := fsm.Lease{Zone: "A", Grants: 3, DurationMs: 1000}
	first := k.Wait(l, 100*time.Millisecond)
	if first <= 0 || first > 1100*time.Millisecond {
		t.Fatalf("first wait %v, want in (0, 1.1s]", first)
	}
	time.Sleep(20 * time.Millisecond)
	if again := k.Wait(l, 100*time.Millisecond); again >= first {
		t.Fatalf("same grant seen again: wait %v, not below %v", again, first)
	}
	l.Grants++
	l.DurationMs = 0 // granted before leases carried their duration
	if w := k.Wait(l, 0); w <= time.Second || w > 2*time.Second {
		t.Fatalf("new grant without duration: wait %v, want the configured 2s", w)
	}
}
