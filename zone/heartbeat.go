package zone

import (
	"errors"
	"sync"

	"github.com/hashicorp/raft"
)

// errStopping answers a heartbeat that reaches a replica shutting down.
var errStopping = errors.New("replica shutting down")

// heartbeatGuard is a replica's Raft transport with its heartbeat fast path
// fenced. hashicorp/raft handles a heartbeat on the transport's connection
// goroutine, outside the goroutines Raft.Shutdown waits for: one that got
// past Raft's own shutdown check could save a new term after the replica
// closed its stable store, and Raft panics on that failed write, which took
// the whole node down. The guard lets Shutdown wait for the heartbeats in
// flight (stop) before the stores close, and answers later ones with an
// error.
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
			rpc.Respond(nil, errStopping)
			return
		}
		fn(rpc)
	})
}

// stop waits for the heartbeats being handled and turns away the rest.
func (g *heartbeatGuard) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}
