package zone

import (
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/clock"
)

// PostRounds is the most entries of one group one Post call proposes: a
// backlog larger than PostRounds×batch is worked off over several calls.
const PostRounds = 50

// PostResult is what one Post call did.
type PostResult struct {
	// Posted counts the payments booked into bills.
	Posted int
	// Behind is, for every group this node serves, how long ago the oldest
	// payment still waiting to be booked was accepted, once the call was
	// done (0: none waits).
	Behind map[string]time.Duration
}

// Post books, in every group this node leads with its shards set up and
// its lease held, the group's unposted payments into bills, batch of them
// per CmdPost entry (through ReplicaHost.Apply). A group whose entry booked
// a full batch gets another, round-robin with the other groups, until its
// backlog is gone, it has had PostRounds entries, or the node no longer
// leads it with a valid lease: booking keeps up with any rate of payments
// the zone accepts, instead of at most batch per call. Posting is
// idempotent, so a post proposed by a leader that then lost its term does
// no harm. Behind is measured once the entries are done, against the
// leaders' clock (clock.Now, as a write's time is stamped).
func (s *ReplicaSet) Post(batch int) PostResult {
	out := PostResult{Behind: map[string]time.Duration{}}
	groups := s.Serving()
	oldest := make([]int64, len(groups))
	more := make([]bool, len(groups))
	for i := range more {
		more[i] = true
	}
	for round := 0; round < PostRounds; round++ {
		busy := false
		for i, h := range groups {
			if !more[i] {
				continue
			}
			if round > 0 && !(h.Replica().IsLeader() && s.LeaseValid(h)) {
				more[i] = false // a round may outlast the term or lease it began under
				continue
			}
			n, full, since := s.postSome(h, batch)
			out.Posted += n
			oldest[i], more[i] = since, full
			busy = busy || full
		}
		if !busy {
			break
		}
	}
	for i, h := range groups {
		since := oldest[i]
		if since != 0 || more[i] {
			// Payments may still wait (a full last entry, a failed one,
			// or the rounds ran out): ask for the oldest now.
			if _, at, err := h.FSM().UnpostedSince(1); err == nil {
				since = at
			}
		}
		var behind time.Duration
		if since != 0 {
			behind = max(0, clock.Now().Sub(time.UnixMilli(since)))
		}
		out.Behind[h.Name()] = behind
	}
	return out
}

// Serving lists, in name order, the groups this node votes in and leads
// now with their shards set up (Ready) and their lease held (LeaseValid):
// those that may write.
func (s *ReplicaSet) Serving() []*Hosted {
	var out []*Hosted
	for _, h := range s.List() {
		if h.Voter() && h.Replica().IsLeader() && h.Ready() && s.LeaseValid(h) {
			out = append(out, h)
		}
	}
	return out
}

// postSome books up to batch of h's unposted payments in one entry. It
// returns how many it booked, whether it found a full batch to book (more
// may wait), and when the oldest payment that was waiting before the entry
// was accepted (Unix milliseconds; 0 when none, or when the entry booked
// them all and nothing else waited).
func (s *ReplicaSet) postSome(h *Hosted, batch int) (posted int, full bool, oldest int64) {
	refs, since, err := h.FSM().UnpostedSince(batch)
	if err != nil || len(refs) == 0 {
		return 0, false, 0
	}
	res, err := s.host.Apply(h, fsm.Command{Type: fsm.CmdPost, Posts: refs})
	if err != nil {
		s.log.Debug("post", "group", h.Name(), "payments", len(refs), "err", err)
		return 0, false, since
	}
	if len(refs) < batch {
		// Everything that waited went into this entry.
		return res[0].Posted, false, 0
	}
	return res[0].Posted, true, since
}
