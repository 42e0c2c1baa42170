package zone

import (
	"slices"
	"sync"
)

// Guard tracks, on a zone's leader for one term, which accounts hold a
// guard mark in the backup zone's group and when each may be cleared.
//
// The rule it keeps (docs/DESIGN.md, Failover): before a write to an account
// commits in the zone, the account is marked in the backup zone; a mark is
// cleared only once the backup zone's replicas have applied past the
// account's last write. So every account with a committed write that the
// backup replica has not applied is marked, and on failover the marked
// accounts are exactly the ones whose state the backup may lack.
//
// Use: Begin before proposing a write (and, when it asks, get the mark
// committed in the backup zone and call Marked); End once the write's entry
// has an index (committed or not, its index is where it would commit);
// Clearable with the backup replicas' lowest applied index yields the marks
// to clear. A new leader starts a new Guard from the marks the backup zone
// holds, each assumed written up to the new leader's last log index: it
// cannot know better, so it clears nothing its predecessors may still need.
//
// Marks carry (term, seq); the backup zone keeps a mark's highest (term,
// seq) and clears it only for a clear with an equal or higher one, so a
// clear computed by an older leader, or before the account was marked
// again, never removes a newer mark. A Guard is safe for concurrent use.
type Guard struct {
	mu   sync.Mutex
	term uint64
	seq  uint64
	// floor is the last log index when the term began: an account's
	// earlier writes may sit at or below it, so no account is cleared
	// before the backup has applied that far.
	floor uint64
	accts map[uint64]*guardAcct
}

type guardAcct struct {
	marked   bool   // this leader's mark is committed in the backup zone
	inherit  bool   // a mark set by an earlier leader was there at the start of the term
	seq      uint64 // seq of the latest mark asked for
	inflight int    // writes begun and not ended
	last     uint64 // highest log index a write to the account may commit at
}

// MarkReq asks the backup zone to mark an account.
type MarkReq struct {
	User uint64
	Term uint64
	Seq  uint64
}

// NewGuard starts the guard of a leader in term. existing are the accounts
// marked in the backup zone now; this leader clears them only once the
// backup has applied past lastIndex, its last log index at the start of its
// term. existing may be nil: the leader then sweeps every mark of an earlier
// term once the backup has applied past lastIndex (fsm CmdGuardClear with
// Term), and clears none of its own before then either, since an account's
// writes of earlier terms sit at or below lastIndex (the randomized test
// found that one). It does not rely on them for its own writes: an earlier leader's
// clear may still be on its way and remove them, so the first write of this
// term to such an account marks it again, at this term.
func NewGuard(term uint64, existing []uint64, lastIndex uint64) *Guard {
	g := &Guard{term: term, floor: lastIndex, accts: map[uint64]*guardAcct{}}
	for _, u := range existing {
		g.accts[u] = &guardAcct{inherit: true, last: lastIndex}
	}
	return g
}

// Begin registers a write to user about to be proposed. If the account is
// not marked, it returns the mark to commit in the backup zone first (then
// call Marked); else nil. Every Begin needs an End.
func (g *Guard) Begin(user uint64) *MarkReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.accts[user]
	if a == nil {
		a = &guardAcct{last: g.floor}
		g.accts[user] = a
	}
	a.inflight++
	if a.marked {
		return nil
	}
	g.seq++
	a.seq = g.seq
	return &MarkReq{User: user, Term: g.term, Seq: a.seq}
}

// Marked records that the mark m is committed in the backup zone.
func (g *Guard) Marked(m MarkReq) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a := g.accts[m.User]; a != nil && a.seq == m.Seq {
		a.marked = true
	}
}

// End records that a write begun with Begin has ended; index is the log
// index its entry got (0 if it never reached the log).
func (g *Guard) End(user uint64, index uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.accts[user]
	if a == nil {
		return
	}
	a.inflight--
	a.last = max(a.last, index)
}

// ClearReq asks the backup zone to clear a mark set at or before (Term, Seq).
type ClearReq struct {
	User uint64
	Term uint64
	Seq  uint64
}

// Clearable returns the marks that may be cleared now that every backup
// replica has applied through applied, in user order, and forgets them: a
// later write to one of those accounts marks it again, with a higher seq.
func (g *Guard) Clearable(applied uint64) []ClearReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []ClearReq
	for u, a := range g.accts {
		if (a.marked || a.inherit) && a.inflight == 0 && a.last <= applied {
			out = append(out, ClearReq{User: u, Term: g.term, Seq: a.seq})
			delete(g.accts, u)
		}
	}
	slices.SortFunc(out, func(x, y ClearReq) int {
		switch {
		case x.User < y.User:
			return -1
		case x.User > y.User:
			return 1
		}
		return 0
	})
	return out
}

// Marked reports how many accounts this guard holds marked.
func (g *Guard) MarkedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, a := range g.accts {
		if a.marked {
			n++
		}
	}
	return n
}
