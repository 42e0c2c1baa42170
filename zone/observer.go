package zone

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// leaderCounter counts the leaders a replica learns of, from raft's leader
// observations.
type leaderCounter struct {
	n    atomic.Uint64
	obs  *raft.Observer
	ch   chan raft.Observation
	done sync.WaitGroup
	once sync.Once
}

func (c *leaderCounter) start(r *raft.Raft) {
	c.ch = make(chan raft.Observation, 16)
	c.obs = raft.NewObserver(c.ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(c.obs)
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		for o := range c.ch {
			if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" {
				c.n.Add(1)
			}
		}
	}()
}

// stop ends the counting; call it once raft has shut down.
func (c *leaderCounter) stop(r *raft.Raft) {
	if c.obs == nil {
		return
	}
	c.once.Do(func() {
		r.DeregisterObserver(c.obs)
		close(c.ch)
		c.done.Wait()
	})
}

// LeaderChanges is how many times this replica has learned of a new leader
// of its group since it opened (an observation dropped under a burst is not
// counted).
func (r *Replica) LeaderChanges() uint64 { return r.leaders.n.Load() }
