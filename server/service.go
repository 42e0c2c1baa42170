package server

import (
	"time"
)

// service is one of the node's background components: a loop that runs
// from its start until it is stopped. Start registers and starts each one
// (startService) in a fixed order; Shutdown stops them in the reverse
// order, each with its own stop and wait (stopServices).
type service struct {
	name string
	// run runs until stop or the node's stop (Node.stop, closed when
	// Shutdown begins) closes. The scheduler and the outbox watch the
	// node's stop only (their host's Done).
	run  func(stop <-chan struct{})
	stop chan struct{}
	done chan struct{} // closed once run has returned
}

// Name is the service's name, as the log gives it.
func (s *service) Name() string { return s.name }

// Start runs the service in its own goroutine.
func (s *service) Start() {
	go func() {
		defer close(s.done)
		s.run(s.stop)
	}()
}

// Stop closes the service's stop and waits until its run has returned.
func (s *service) Stop() {
	close(s.stop)
	<-s.done
}

// startService registers a service and starts it. Only Start calls it,
// before it returns: the list does not change afterwards.
func (n *Node) startService(name string, run func(stop <-chan struct{})) {
	s := &service{name: name, run: run, stop: make(chan struct{}), done: make(chan struct{})}
	n.services = append(n.services, s)
	s.Start()
	n.log.Debug("service started", "service", name)
}

// stopServices stops the node's services in the reverse of their start
// order, each in turn, and logs how long each took.
func (n *Node) stopServices() {
	for i := len(n.services) - 1; i >= 0; i-- {
		s := n.services[i]
		start := time.Now()
		s.Stop()
		n.log.Debug("service stopped", "service", s.Name(), "took", time.Since(start))
	}
}

// every runs fn every d until stop or the node's stop closes.
func (n *Node) every(stop <-chan struct{}, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-n.stop:
			return
		case <-t.C:
		}
		fn()
	}
}
