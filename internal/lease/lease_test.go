package lease

import "testing"

func TestGrant(t *testing.T) {
	l := Grant(7, "w1", 3, 1000, 60, 40)
	want := Lease{ID: 7, Holder: "w1", Term: 3, Deadline: 1060, TTL: 60, Next: 40}
	if l != want {
		t.Fatalf("Grant = %+v, want %+v", l, want)
	}
}

func TestExpiredPastTheDeadlineOnly(t *testing.T) {
	l := Grant(1, "w", 0, 1000, 60, 0)
	for _, c := range []struct {
		now  int64
		want bool
	}{{1000, false}, {1059, false}, {1060, false}, {1061, true}, {5000, true}} {
		if got := l.Expired(c.now); got != c.want {
			t.Errorf("Expired(%d) with deadline 1060 = %v, want %v", c.now, got, c.want)
		}
	}
}

func TestStale(t *testing.T) {
	l := Grant(1, "w", 4, 0, 10, 0)
	if l.Stale(4) || !l.Stale(5) || l.Stale(3) {
		t.Fatal("a lease of term 4 must be stale in term 5 only")
	}
}

func TestAcceptsFencesOtherLeaseTermAndExpired(t *testing.T) {
	l := Grant(9, "w", 2, 1000, 60, 0)
	for _, c := range []struct {
		name     string
		id, term uint64
		now      int64
		want     bool
	}{
		{"live", 9, 2, 1030, true},
		{"at the deadline", 9, 2, 1060, true},
		{"past the deadline", 9, 2, 1061, false},
		{"another lease", 8, 2, 1030, false},
		{"an older term", 9, 1, 1030, false},
		{"a newer term", 9, 3, 1030, false},
	} {
		if got := l.Accepts(c.id, c.term, c.now); got != c.want {
			t.Errorf("%s: Accepts(%d, %d, %d) = %v, want %v", c.name, c.id, c.term, c.now, got, c.want)
		}
	}
	var none Lease
	if none.Accepts(9, 2, 1030) {
		t.Error("a pending task accepted a report of a lease")
	}
}

func TestForward(t *testing.T) {
	l := Grant(1, "w", 0, 0, 10, 100).Checkpoint(5, 120, 4)
	for _, c := range []struct {
		next uint64
		done int64
		want bool
	}{
		{120, 4, true},  // no progress is not going back
		{150, 9, true},  // forward
		{200, 20, true}, // to the end, every user
		{119, 4, false}, // next goes back
		{130, 3, false}, // done goes back
		{201, 10, false},
		{150, 21, false},
	} {
		if got := l.Forward(c.next, c.done, 200, 20); got != c.want {
			t.Errorf("Forward(%d, %d) from (120, 4) in [100,200) of 20 = %v, want %v", c.next, c.done, got, c.want)
		}
	}
}

func TestCheckpointExtendsFromNow(t *testing.T) {
	l := Grant(1, "w", 0, 1000, 60, 0).Checkpoint(1050, 30, 3)
	if l.Next != 30 || l.Done != 3 || l.Deadline != 1110 || l.ID != 1 || l.TTL != 60 {
		t.Fatalf("Checkpoint = %+v, want next 30, done 3, deadline 1110", l)
	}
	if l.Expired(1100) || !l.Expired(1111) {
		t.Fatal("the checkpointed lease must hold until 1110 and not after")
	}
}

func TestTakeBackFromTheCheckpoint(t *testing.T) {
	l := Grant(1, "w", 0, 0, 10, 100)
	if lo, users := l.TakeBack(100, 50); lo != 100 || users != 50 {
		t.Errorf("nothing checkpointed: TakeBack = [%d, %d users], want the whole task", lo, users)
	}
	l = l.Checkpoint(5, 130, 12)
	if lo, users := l.TakeBack(100, 50); lo != 130 || users != 38 {
		t.Errorf("TakeBack after checkpoint (130, 12) = [%d, %d users], want [130, 38 users]", lo, users)
	}
	// A checkpoint that moved over ids but did no user leaves the task as it was.
	l = Grant(1, "w", 0, 0, 10, 100).Checkpoint(5, 130, 0)
	if lo, users := l.TakeBack(100, 50); lo != 100 || users != 50 {
		t.Errorf("checkpoint (130, 0): TakeBack = [%d, %d users], want [100, 50 users]", lo, users)
	}
}

func TestLeft(t *testing.T) {
	l := Grant(1, "w", 0, 0, 10, 0).Checkpoint(1, 7, 7)
	if got := l.Left(20); got != 13 {
		t.Fatalf("Left(20) after 7 done = %d, want 13", got)
	}
}

// TestSequence runs the life of one task through the rules: grant, checkpoint, expiry,
// take-back, a new grant, the old holder fenced, completion.
func TestSequence(t *testing.T) {
	const ttl = 1000
	l1 := Grant(1, "w1", 1, 0, ttl, 0)
	if !l1.Accepts(1, 1, 500) || !l1.Forward(50, 50, 200, 200) {
		t.Fatal("w1's checkpoint within its lease refused")
	}
	l1 = l1.Checkpoint(500, 50, 50)
	if l1.Expired(1500) || !l1.Expired(1501) {
		t.Fatal("the checkpoint must hold the lease to 1500 exactly")
	}
	lo, users := l1.TakeBack(0, 200)
	if lo != 50 || users != 150 {
		t.Fatalf("take-back = [%d, %d users], want [50, 150 users]", lo, users)
	}
	l2 := Grant(2, "w2", 1, 3000, ttl, lo)
	if l2.Accepts(1, 1, 3100) {
		t.Fatal("w1's late report accepted by w2's lease")
	}
	if !l2.Accepts(2, 1, 3400) || l2.Left(users) != 150 {
		t.Fatal("w2's completion must be accepted and finish the 150 users left")
	}
}
