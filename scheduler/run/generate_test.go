package run

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
)

// sliceHost is a fakeHost of a cluster of alive nodes.
type sliceHost struct {
	fakeHost
	alive int
}

func (h sliceHost) AliveNodes() int { return h.alive }

// TestSliceForTheSlotsTheLimitLets: generation cuts a range into tasks for
// the slots that can work at once, the online slots capped by the
// downstream's limit: under a limit of 2 tasks a range of 300 users is one
// task, where for the 36 slots of 9 nodes it is two.
func TestSliceForTheSlotsTheLimitLets(t *testing.T) {
	s := New(sliceHost{fakeHost{reg: prometheus.NewRegistry()}, 9}, Config{})
	users := make([]uint64, 300)
	for i := range users {
		users[i] = uint64(i * fsm.NumShards)
	}
	for _, c := range []struct{ limit, tasks int }{{2, 1}, {36, 2}, {1000, 2}} {
		tasks := s.slice(fsm.Run{}, users, 15000, c.limit)
		if len(tasks) != c.tasks {
			t.Errorf("limit %d: %d tasks %+v, want %d", c.limit, len(tasks), tasks, c.tasks)
		}
		var n int64
		for _, tk := range tasks {
			n += tk.Users
		}
		if n != int64(len(users)) {
			t.Errorf("limit %d: tasks cover %d users, want %d", c.limit, n, len(users))
		}
	}
}
