package server

import (
	"time"

	"github.com/rzonedb/rzone/internal/service"
)

// startService registers one of the node's background components and
// starts it (internal/service). Only Start calls it, before it returns,
// in a fixed order; Shutdown stops them in the reverse order, each with
// its own stop and wait (stopServices). run runs until its stop or the
// node's stop (Node.stop, closed when Shutdown begins) closes; the
// scheduler and the outbox watch the node's stop only (their host's
// Done).
func (n *Node) startService(name string, run func(stop <-chan struct{})) {
	if n.services == nil {
		n.services = service.NewSet(n.log)
	}
	n.services.Start(name, run)
}

// stopServices stops the node's services in the reverse of their start
// order, each in turn, and logs how long each took.
func (n *Node) stopServices() { n.services.StopAll() }

// every runs fn every d until stop or the node's stop closes.
func (n *Node) every(stop <-chan struct{}, d time.Duration, fn func()) {
	service.Every(stop, n.stop, d, fn)
}
