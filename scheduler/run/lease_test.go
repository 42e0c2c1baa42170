package run

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
)

// leaseHost is the meta leader of a cluster of 9 nodes: a meta state
// machine whose commands take delay to commit, as a log entry does, and
// commit concurrently. It records the most tasks leased at any time.
type leaseHost struct {
	fakeHost
	delay time.Duration

	mu      sync.Mutex
	m       *fsm.Meta
	idx     uint64
	maxHeld int
}

func (h *leaseHost) IsMetaLeader() bool       { return true }
func (h *leaseHost) Now() time.Time           { return time.Now() }
func (h *leaseHost) AliveNodes() int          { return 9 }
func (h *leaseHost) NodeID() string           { return "a1" }
func (h *leaseHost) MetaState() fsm.MetaState { return h.m.State() }

func (h *leaseHost) MetaApply(_ context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	time.Sleep(h.delay)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.idx++
	c.Time = time.Now().UnixMilli()
	res := h.m.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: fsm.EncodeMeta(c)}).(fsm.MetaResult)
	h.maxHeld = max(h.maxHeld, leased(h.m.State().Sched, "notify"))
	return res, nil
}

// TestConcurrentLeasesKeepTheLimit: lease requests of many workers at once
// commit together, yet the tasks leased never exceed the limit in force
// (the notify limit's initial 16), and it is filled.
func TestConcurrentLeasesKeepTheLimit(t *testing.T) {
	h := &leaseHost{fakeHost: fakeHost{reg: prometheus.NewRegistry()}, m: fsm.NewMeta(nil)}
	h.MetaApply(context.Background(), fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
	sched := func(typ byte, c fsm.SchedCmd) *fsm.SchedResult {
		res, _ := h.MetaApply(context.Background(), fsm.MetaCmd{Type: typ, Sched: &c})
		if res.Err != "" {
			t.Fatalf("meta command %d: %s", typ, res.Err)
		}
		return res.Sched
	}
	sched(fsm.MetaSchedResume, fsm.SchedCmd{Term: 1})
	run := sched(fsm.MetaSchedCreateRun, fsm.SchedCmd{Job: fsm.JobStatement, Cycle: 202611}).Run.ID
	var tasks []fsm.TaskSpec
	for i := range 40 {
		lo := uint64(i * 10 * fsm.NumShards)
		tasks = append(tasks, fsm.TaskSpec{Lo: lo, Hi: lo + 9*fsm.NumShards, Users: 10})
	}
	for sh := 0; sh < fsm.NumShards; sh++ {
		c := fsm.SchedCmd{Run: run, Shard: sh}
		if sh == 0 {
			c.Count, c.Tasks = 400, tasks
		}
		sched(fsm.MetaSchedGenerated, c)
	}
	zone, _ := h.MetaState().Route(0)

	s := New(h, Config{})
	s.setTerm(1)
	h.delay = 50 * time.Millisecond
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	start := time.Now()
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := s.Lease(context.Background(), LeaseRequest{Worker: string(rune('a' + w)), Zone: zone, Max: 2})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			granted += len(g)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if h.maxHeld > 16 || granted > 16 {
		t.Fatalf("%d tasks granted, at most %d leased at once; the limit is 16", granted, h.maxHeld)
	}
	if granted != 16 {
		t.Fatalf("%d tasks granted; want the limit's 16 filled (40 pending, 12 workers asking for 2)", granted)
	}
	// One after another, the 8 lease commands that fill the limit take 8
	// commits.
	if d := time.Since(start); d > 4*h.delay {
		t.Errorf("12 lease requests took %s at %s a commit: they did not commit together", d, h.delay)
	}
}
