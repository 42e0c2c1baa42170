package zone

import "github.com/rzonedb/rzone/fsm"

// Post books, in every group this node leads with its shards set up and
// its lease held, up to batch of the group's unposted payments into bills
// (one CmdPost entry each, through ReplicaHost.Apply). Posting is
// idempotent, so a post proposed by a leader that then lost its term does
// no harm. It returns how many payments were booked.
func (s *ReplicaSet) Post(batch int) (posted int) {
	for _, h := range s.Serving() {
		posted += s.postSome(h, batch)
	}
	return posted
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

// postSome books up to batch of h's unposted payments.
func (s *ReplicaSet) postSome(h *Hosted, batch int) int {
	refs, err := h.FSM().Unposted(batch)
	if err != nil || len(refs) == 0 {
		return 0
	}
	res, err := s.host.Apply(h, fsm.Command{Type: fsm.CmdPost, Posts: refs})
	if err != nil {
		s.log.Debug("post", "group", h.Name(), "payments", len(refs), "err", err)
		return 0
	}
	return res[0].Posted
}
