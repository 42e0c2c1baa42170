package zone

import (
	"sync"

	"github.com/hashicorp/raft"
)

// heartbeatGuard is a replica's Raft transport with its heartbeat fast path
// fenced. hashicorp/raft handles a heartbeat on the transport's connection
// goroutine, outside the goroutines Raft.Shutdown waits for: one that got
// past Raft's own shutdown check could save a new term after the replica
// closed its stable store, and Raft panics on that failed write, which took
// the whole node down (hashicorp/raft issue 717, open upstream). The guard
// makes closing the transport, which Raft.Shutdown does, wait for the
// heartbeats in flight (stop), and turns later ones away: the stores close
// after. A connection the transport accepted before it closed stays open
// (closing it answers none of them), so the guard outlives the close.
type heartbeatGuard struct {
	*raft.NetworkTransport
	mu      sync.RWMutex
	stopped bool
}

// SetHeartbeatHandler implements raft.Transport: fn runs behind the guard.
func (g *heartbeatGuard) SetHeartbeatHandler(fn func(raft.RPC)) {
	if fn == nil {
		g.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	g.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		g.mu.RLock()
		defer g.mu.RUnlock()
		if g.stopped {
			// The answer raft's own transport gives once closed:
			// the leader sees a peer going away (logged at WARN).
			rpc.Respond(nil, raft.ErrTransportShutdown)
			return
		}
		fn(rpc)
	})
}

// Close implements raft.WithClose: Raft.Shutdown closes the transport once
// its own goroutines are done, and from then no heartbeat may reach the
// stores; it waits for those in flight (stop) first.
func (g *heartbeatGuard) Close() error {
	g.stop()
	return g.NetworkTransport.Close()
}

// stop waits for the heartbeats being handled and turns away the rest.
func (g *heartbeatGuard) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}
