package fsm

import (
	"sync"
	"sync/atomic"
)

// appliedIndex is a state machine's last applied log index that readers can
// wait on. Its zero value is ready to use; set is called by the applying
// goroutine, load and wait from any.
type appliedIndex struct {
	v  atomic.Uint64
	mu sync.Mutex
	ch chan struct{} // closed and replaced each time v moves
}

func (a *appliedIndex) load() uint64 { return a.v.Load() }

func (a *appliedIndex) set(i uint64) {
	a.v.Store(i)
	a.mu.Lock()
	if a.ch != nil {
		close(a.ch)
		a.ch = nil
	}
	a.mu.Unlock()
}

// wait blocks until the index reaches i or done is closed, and reports
// whether it was reached.
func (a *appliedIndex) wait(done <-chan struct{}, i uint64) bool {
	for {
		a.mu.Lock()
		if a.ch == nil {
			a.ch = make(chan struct{})
		}
		ch := a.ch
		a.mu.Unlock()
		if a.v.Load() >= i {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return a.v.Load() >= i
		}
	}
}
