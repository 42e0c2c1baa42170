package service

import (
	"log/slog"
	"time"
)

// Service is one background component: a loop that runs from its start
// until it is stopped.
type Service struct {
	name string
	// run runs until stop closes (or until whatever else it watches
	// does).
	run  func(stop <-chan struct{})
	stop chan struct{}
	done chan struct{} // closed once run has returned
}

// Name is the service's name, as the log gives it.
func (s *Service) Name() string { return s.name }

// Done is closed once the service's run has returned.
func (s *Service) Done() <-chan struct{} { return s.done }

// Stop closes the service's stop and waits until its run has returned.
func (s *Service) Stop() {
	close(s.stop)
	<-s.done
}

// Set is a node's services in their start order. Start and StopAll are
// called from one goroutine (the node's start, then its shutdown).
type Set struct {
	log  *slog.Logger
	list []*Service
}

// NewSet returns an empty set that logs to log.
func NewSet(log *slog.Logger) *Set { return &Set{log: log} }

// Start registers a service and runs it in its own goroutine.
func (s *Set) Start(name string, run func(stop <-chan struct{})) {
	sv := &Service{name: name, run: run, stop: make(chan struct{}), done: make(chan struct{})}
	s.list = append(s.list, sv)
	go func() {
		defer close(sv.done)
		sv.run(sv.stop)
	}()
	s.log.Debug("service started", "service", name)
}

// List is the services in their start order; nil for a nil set.
func (s *Set) List() []*Service {
	if s == nil {
		return nil
	}
	return s.list
}

// StopAll stops the services in the reverse of their start order, each in
// turn, and logs how long each took. A nil set has none.
func (s *Set) StopAll() {
	list := s.List()
	for i := len(list) - 1; i >= 0; i-- {
		sv := list[i]
		start := time.Now()
		sv.Stop()
		s.log.Debug("service stopped", "service", sv.Name(), "took", time.Since(start))
	}
}

// Every runs fn every d until stop or also closes.
func Every(stop, also <-chan struct{}, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-also:
			return
		case <-t.C:
		}
		fn()
	}
}
