package zone

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/fsm"
)

// MarksRequest is the body of POST /v1/internal/marks: set (or, with
// Clear, clear) guard marks of Zone in the receiving node's zone.
type MarksRequest struct {
	Zone      string     `json:"zone"`
	Marks     []fsm.Mark `json:"marks"`
	Clear     bool       `json:"clear,omitempty"`
	Watermark uint64     `json:"watermark,omitempty"`
	Sweep     uint64     `json:"sweep,omitempty"` // with Clear: also clear marks of terms below
}

// GuardInfo is the body of GET /v1/internal/guard: the marks of a zone held
// in this (its backup) zone, read on the backup zone's leader.
type GuardInfo struct {
	Zone      string   `json:"zone"`
	Marks     []uint64 `json:"marks"`
	Watermark uint64   `json:"watermark"`
}

// TestMarkDelay, when set (tests only), delays every guard marks request.
var TestMarkDelay atomic.Pointer[time.Duration]

// marker sends a zone leader's guard marks to the backup zone's leader,
// batching the marks of concurrent writes into one request and one entry.
type marker struct {
	k            *GuardKeeper
	zone, backup string

	mu      sync.Mutex
	busy    bool
	pending []fsm.Mark
	waiters []chan error
}

func (m *marker) mark(ctx context.Context, reqs []MarkReq) error {
	ch := make(chan error, 1)
	m.mu.Lock()
	for _, r := range reqs {
		m.pending = append(m.pending, fsm.Mark{User: r.User, Term: r.Term, Seq: r.Seq})
	}
	m.waiters = append(m.waiters, ch)
	if !m.busy {
		m.busy = true
		go m.flush()
	}
	m.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *marker) flush() {
	for {
		m.mu.Lock()
		marks, waiters := m.pending, m.waiters
		m.pending, m.waiters = nil, nil
		if len(waiters) == 0 {
			m.busy = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		if d := TestMarkDelay.Load(); d != nil {
			time.Sleep(*d)
		}
		err := m.k.sendMarks(m.backup, MarksRequest{Zone: m.zone, Marks: marks})
		for _, w := range waiters {
			w <- err
		}
	}
}

// sendMarks delivers a marks request to backup's leader, retrying briefly
// while it has none.
func (k *GuardKeeper) sendMarks(backup string, req MarksRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), k.cfg.ApplyTimeout)
	defer cancel()
	return k.host.RetryZone(ctx, backup, func(addr string) error {
		return k.host.PostJSON(ctx, addr, "/v1/internal/marks", req, nil)
	})
}
