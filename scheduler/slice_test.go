package scheduler

import (
	"testing"
)

func smart(t *testing.T, change func(*SmartConfig)) *SmartSlicer {
	t.Helper()
	c := DefaultSmartConfig()
	if change != nil {
		change(&c)
	}
	s, err := NewSmartSlicer(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSmartEnoughTasksForFreeSlots hands pending work to every free slot the way the
// dispatcher does and counts the tasks.
func TestSmartEnoughTasksForFreeSlots(t *testing.T) {
	tests := []struct {
		name     string
		min      int64
		pending  int64
		free     int
		online   int
		wantSome int // at least this many tasks
	}{
		{"start of a run", 100, 30_000_000, 500, 500, 500},
		{"a few slots free mid-run", 100, 1_000_000, 7, 500, 7},
		{"tail: pending just covers free slots at min size", 100, 50_000, 500, 500, 500},
		{"tail below min size per slot: min size wins", 100, 20_000, 500, 500, 200},
		{"min size 1: always a task per free slot", 1, 499, 500, 500, 499},
		{"min size 1: exactly one user per slot", 1, 500, 500, 500, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smart(t, func(c *SmartConfig) { c.MinUsers = tt.min })
			p, free, tasks := tt.pending, tt.free, 0
			for free > 0 && p > 0 {
				n := min(max(s.Size(View{Pending: p, OnlineSlots: tt.online, FreeSlots: free}), 1), p)
				p -= n
				free--
				tasks++
			}
			if tasks < tt.wantSome {
				t.Errorf("%d tasks for %d free slots and %d users pending, want at least %d", tasks, tt.free, tt.pending, tt.wantSome)
			}
			if tt.pending >= int64(tt.free)*tt.min && tasks < tt.free {
				t.Errorf("%d tasks for %d free slots with %d users pending: a free slot went without", tasks, tt.free, tt.pending)
			}
		})
	}
}

func TestSmartSizeShrinksWithWork(t *testing.T) {
	s := smart(t, nil)
	prev := int64(1 << 62)
	for _, p := range []int64{30_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000} {
		got := s.Size(View{Pending: p, OnlineSlots: 500, FreeSlots: 1})
		if got > prev || got > p {
			t.Errorf("Size with %d pending = %d, want at most %d and the pending", p, got, prev)
		}
		prev = got
	}
	if got := s.Size(View{Pending: 30_000_000, OnlineSlots: 500, FreeSlots: 1}); got != 30_000 {
		t.Errorf("first task of 30 M users on 500 slots = %d, want 30 M / (2 × 500) = 30000", got)
	}
	// Known rates: a slot at a quarter of the mean rate gets a quarter of the share.
	v := View{Pending: 30_000_000, OnlineSlots: 500, FreeSlots: 1, SlotRate: 5, ClusterRate: 10_000}
	if got := s.Size(v); got != 7_500 {
		t.Errorf("task for a slow slot = %d, want 30 M × 5/10000 / 2 = 7500", got)
	}
}

func TestSmartKeep(t *testing.T) {
	s := smart(t, nil)
	tests := []struct {
		name      string
		v         View
		remaining int64
		stalled   bool
		want      int64
	}{
		{"pending feeds every free slot: keep all", View{Pending: 1_000_000, FreeSlots: 10}, 5_000, false, 5_000},
		{"no free slot: keep all", View{Pending: 0, FreeSlots: 0}, 5_000, false, 5_000},
		{"hungry slots: spread over itself and them", View{Pending: 0, FreeSlots: 9}, 5_000, false, 500},
		{"hungry but the share would be under min: keep min", View{Pending: 0, FreeSlots: 400}, 5_000, false, 100},
		{"too small to give min away: keep all", View{Pending: 0, FreeSlots: 400}, 150, false, 150},
		{"stalled and hungry: give everything away", View{Pending: 0, FreeSlots: 3}, 5_000, true, 0},
		{"stalled, not hungry: keep all", View{Pending: 1_000_000, FreeSlots: 3}, 5_000, true, 5_000},
		{"would outlast the cluster: keep what it does in the horizon",
			View{Pending: 900_000, InFlight: 100_000, FreeSlots: 0, SlotRate: 5, ClusterRate: 10_000}, 5_000, false, 500},
		{"fast enough: keep all",
			View{Pending: 900_000, InFlight: 100_000, FreeSlots: 0, SlotRate: 20, ClusterRate: 10_000}, 1_000, false, 1_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Keep(tt.v, tt.remaining, tt.stalled); got != tt.want {
				t.Errorf("Keep(%+v, %d, %v) = %d, want %d", tt.v, tt.remaining, tt.stalled, got, tt.want)
			}
		})
	}
}

func TestFixedSlicer(t *testing.T) {
	s := FixedSlicer{Users: 20_000}
	if got := s.Size(View{Pending: 1_000, FreeSlots: 500}); got != 20_000 {
		t.Errorf("Size = %d, want 20000 (the dispatcher clamps to pending)", got)
	}
	if got := s.Keep(View{FreeSlots: 500}, 19_000, true); got != 19_000 {
		t.Errorf("Keep = %d, want everything: a fixed task is never split", got)
	}
}

func TestPendingTake(t *testing.T) {
	var p pending
	p.pushBack(Range{0, 100})
	p.pushBack(Range{200, 250})
	p.pushFront(Range{90, 95})
	got := []Range{p.take(3), p.take(10), p.take(100), p.take(80), p.take(80)}
	want := []Range{{90, 93}, {93, 95}, {0, 100}, {200, 250}, {}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("take %d = %v, want %v", i, got[i], want[i])
		}
	}
	if p.users != 0 {
		t.Errorf("users left = %d, want 0", p.users)
	}
}
