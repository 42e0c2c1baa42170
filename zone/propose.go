package zone

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
)

// maxCoalesced is the most commands ApplyCommands puts in one log entry
// (one caller's commands are never split: a larger call goes alone).
const maxCoalesced = 4096

// ApplyCommands proposes cmds to the zone's group and returns their results
// and the index of the entry that holds them. Calls that wait at the same
// moment share one log entry: while Raft takes an entry in, the next
// callers' commands gather, and go in together as the next entry. The
// commands of an entry apply one after another in one transaction, each
// with its own result, exactly as if each call had its own entry in that
// order; what the callers save is Raft's cost per entry (encoding, the
// log store's write, replication, the state machine's per-entry work),
// which single payments otherwise pay one by one.
//
// Errors are those of Apply, and every caller of an entry gets the entry's:
// ErrNotLeader, ErrNotApplied (nothing reached the log), ErrUnknownOutcome.
func (r *Replica) ApplyCommands(cmds []fsm.Command, timeout time.Duration) ([]fsm.Result, uint64, error) {
	if !coalescable(cmds) {
		return r.applyAlone(cmds, timeout)
	}
	pr := &r.prop
	pr.init(r)
	p := &proposal{cmds: cmds, deadline: time.Now().Add(timeout), done: make(chan proposed, 1)}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case pr.in <- p:
	case <-pr.quit:
		return nil, 0, fmt.Errorf("%w: replica of %s shut down", ErrNotApplied, r.cfg.Group)
	case <-t.C:
		return nil, 0, fmt.Errorf("%w: %s: no room to propose within %s", ErrNotApplied, r.cfg.Group, timeout)
	}
	select {
	case out := <-p.done:
		return out.res, out.index, out.err
	case <-pr.exited:
		if p.taken.Load() {
			// Proposed: answer answers it, with an unknown outcome if
			// Raft shut down leaving the entry unanswered (await).
			out := <-p.done
			return out.res, out.index, out.err
		}
		return nil, 0, fmt.Errorf("%w: replica of %s shut down before the entry was proposed", ErrNotApplied, r.cfg.Group)
	}
}

// coalescable reports whether cmds may share an entry with other calls'
// commands: users' writes (payments, repayments, accounts). The commands
// whose entry index marks a boundary (failover, merge, shard moves, marks,
// posting, effects) keep an entry of their own.
func coalescable(cmds []fsm.Command) bool {
	for i := range cmds {
		switch cmds[i].Type {
		case fsm.CmdPay, fsm.CmdRepay, fsm.CmdPutAccount:
		default:
			return false
		}
	}
	return len(cmds) > 0
}

// applyAlone proposes cmds as an entry of their own.
func (r *Replica) applyAlone(cmds []fsm.Command, timeout time.Duration) ([]fsm.Result, uint64, error) {
	out, index, err := r.ApplyIndex(fsm.Encode(nil, cmds...), timeout)
	if err != nil {
		return nil, 0, err
	}
	res, ok := out.([]fsm.Result)
	if !ok || len(res) != len(cmds) {
		return nil, 0, errors.Join(ErrUnknownOutcome, fmt.Errorf("apply returned %T for %d commands", out, len(cmds)))
	}
	return res, index, nil
}

type proposal struct {
	cmds     []fsm.Command
	deadline time.Time
	done     chan proposed // buffered: whoever answers never waits
	taken    atomic.Bool   // the proposer took it (it answers it)
}

type proposed struct {
	res   []fsm.Result
	index uint64
	err   error
}

// proposer gathers ApplyCommands calls into entries; its goroutine ends
// when the replica shuts down.
type proposer struct {
	once   sync.Once
	in     chan *proposal
	quit   chan struct{} // closed by close
	exited chan struct{} // closed when run has returned
	stop   sync.Once
}

func (pr *proposer) init(r *Replica) {
	pr.once.Do(func() {
		pr.in = make(chan *proposal, maxCoalesced)
		pr.quit, pr.exited = make(chan struct{}), make(chan struct{})
		go pr.run(r)
	})
}

// close ends the proposer; calls still queued are answered not applied.
func (pr *proposer) close() {
	pr.once.Do(func() {
		// Never started: calls after this find it shut.
		pr.quit, pr.exited = make(chan struct{}), make(chan struct{})
		close(pr.exited)
	})
	pr.stop.Do(func() { close(pr.quit) })
}

func (pr *proposer) run(r *Replica) {
	defer close(pr.exited)
	var batch []*proposal
	var cmds []fsm.Command
	for {
		var first *proposal
		select {
		case first = <-pr.in:
			first.taken.Store(true)
		case <-pr.quit:
			pr.drain()
			return
		}
		batch, cmds = append(batch[:0], first), append(cmds[:0], first.cmds...)
		deadline := first.deadline
	gather:
		for len(cmds) < maxCoalesced {
			select {
			case p := <-pr.in:
				p.taken.Store(true)
				if len(cmds)+len(p.cmds) > maxCoalesced {
					// Too big to join: it goes alone, next.
					pr.propose(r, batch, cmds, deadline)
					batch, cmds = []*proposal{p}, append([]fsm.Command(nil), p.cmds...)
					deadline = p.deadline
					continue
				}
				batch, cmds = append(batch, p), append(cmds, p.cmds...)
				if p.deadline.Before(deadline) {
					deadline = p.deadline
				}
			default:
				break gather
			}
		}
		pr.propose(r, batch, cmds, deadline)
		batch, cmds = nil, nil // the waiter owns them now
	}
}

// propose hands one entry to Raft (waiting, at most until the earliest
// caller's deadline, for Raft to take it in) and answers its callers when
// it is applied, from another goroutine, so the next entry gathers
// meanwhile.
func (pr *proposer) propose(r *Replica, batch []*proposal, cmds []fsm.Command, deadline time.Time) {
	wait := time.Until(deadline)
	if wait <= 0 {
		for _, p := range batch {
			p.done <- proposed{err: fmt.Errorf("%w: %s: timed out before it was proposed", ErrNotApplied, r.cfg.Group)}
		}
		return
	}
	f := r.raft.Apply(fsm.Encode(nil, cmds...), wait)
	go answer(r, f, batch, len(cmds))
}

func answer(r *Replica, f raft.ApplyFuture, batch []*proposal, n int) {
	err := classifyApply(r.await(context.Background(), f))
	var res []fsm.Result
	var index uint64
	if err == nil {
		index = f.Index()
		var ok bool
		if res, ok = f.Response().([]fsm.Result); !ok || len(res) != n {
			err = errors.Join(ErrUnknownOutcome, fmt.Errorf("apply returned %T for %d commands", f.Response(), n))
		}
	}
	at := 0
	for _, p := range batch {
		out := proposed{index: index, err: err}
		if err == nil {
			out.res = res[at : at+len(p.cmds) : at+len(p.cmds)]
		}
		at += len(p.cmds)
		p.done <- out
	}
}

// drain answers every queued call: none reached the log.
func (pr *proposer) drain() {
	for {
		select {
		case p := <-pr.in:
			p.done <- proposed{err: fmt.Errorf("%w: replica shut down before the entry was proposed", ErrNotApplied)}
		default:
			return
		}
	}
}
