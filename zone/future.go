package zone

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// raftDown is closed once a replica's Raft has shut down: its own
// goroutines have returned, and nothing answers a future after that.
type raftDown struct {
	once, closed sync.Once
	ch           chan struct{}
}

func (d *raftDown) init() { d.once.Do(func() { d.ch = make(chan struct{}) }) }

// done is the channel closed when Raft is down.
func (d *raftDown) done() <-chan struct{} { d.init(); return d.ch }

// close marks Raft down (once Raft.Shutdown has returned); again is a no-op.
func (d *raftDown) close() {
	d.init()
	d.closed.Do(func() { close(d.ch) })
}

// answerGrace is how long a wait that saw Raft go down still takes an
// answer Raft gave just before (its delivery is a goroutine's step away).
const answerGrace = 50 * time.Millisecond

// await waits for f's answer. hashicorp/raft can shut down leaving a future
// unanswered: an entry committed but still queued for the state machine, a
// leadership check still queued for the leader loop. A plain f.Error()
// then waits for ever (a request, a loop of the node, the node's own
// shutdown behind it), so the wait also ends when the replica's Raft is
// down, with raft.ErrRaftShutdown (the outcome of a write is then unknown:
// classifyApply), or when ctx ends, with ctx's error. An answer Raft
// gave before it went down is still taken. The goroutine waiting on f
// outlives an abandoned wait only while f stays unanswered.
func (r *Replica) await(ctx context.Context, f raft.Future) error {
	got := make(chan error, 1)
	go func() { got <- f.Error() }()
	select {
	case err := <-got:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.down.done():
		select {
		case err := <-got:
			return err
		case <-time.After(answerGrace):
			return raft.ErrRaftShutdown
		}
	}
}

// untilDown is ctx, also ended when the replica's Raft is down; call the
// cancel function when done with it.
func (r *Replica) untilDown(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-r.down.done():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
