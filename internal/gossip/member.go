package gossip

import (
	"cmp"
	"slices"
	"time"
)

// State is what this node knows of a member's health.
type State string

// The states a Member can be in. Alive, dead and left are memberlist's own
// verdicts; suspect is this package's inference (see doc.go for why).
const (
	// StateAlive: memberlist counts the member in the cluster and this
	// node's own probes of it are being answered.
	StateAlive State = "alive"
	// StateSuspect: memberlist still counts the member in the cluster, but
	// this node's direct probes of it have gone unanswered for longer than
	// two probe rounds. A local early warning; it may clear (EventAlive) or
	// end in StateDead. Not memberlist's own suspect state, which it does not
	// expose.
	StateSuspect State = "suspect"
	// StateDead: memberlist declared the member failed (its suspicion
	// timed out here or elsewhere) without it announcing a leave.
	StateDead State = "dead"
	// StateLeft: the member announced its departure with Leave before
	// memberlist dropped it.
	StateLeft State = "left"
)

// gone reports whether s means the member is out of the cluster.
func (s State) gone() bool { return s == StateDead || s == StateLeft }

// Member is one member as this node sees it: the Meta it gossips, where it
// gossips from, and its State since when.
type Member struct {
	Meta
	// Addr is the member's gossip address, host:port.
	Addr string `json:"addr"`
	// State is the member's health as this node knows it.
	State State `json:"state"`
	// Since is when this node saw the member enter State, by this node's
	// clock.
	Since time.Time `json:"since"`
}

// record is the view's entry for one member.
type record struct {
	meta    Meta
	addr    string
	state   State
	since   time.Time
	heard   time.Time // the last direct probe ack, join or update from it
	leaving bool      // its meta carries the leave marker
}

func (r *record) member() Member {
	return Member{Meta: r.meta.clone(), Addr: r.addr, State: r.state, Since: r.since}
}

// sortMembers orders ms by NodeID.
func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.NodeID, b.NodeID) })
}
