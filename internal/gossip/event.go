package gossip

// EventKind says what happened to a member.
type EventKind string

// The kinds of Event. Each is also a value of the "kind" label of
// rzone_gossip_events_total.
const (
	// EventJoin: a member is alive for the first time, or again after it
	// was dead or left (a restart). This node's own join is reported too.
	EventJoin EventKind = "join"
	// EventUpdate: a member's Meta changed (UpdateMeta).
	EventUpdate EventKind = "update"
	// EventSuspect: this node's probes of a member have gone unanswered for
	// longer than two probe rounds (StateSuspect).
	EventSuspect EventKind = "suspect"
	// EventAlive: a suspect member answered again.
	EventAlive EventKind = "alive"
	// EventLeave: a member left the cluster with Leave (StateLeft).
	EventLeave EventKind = "leave"
	// EventDead: memberlist declared a member failed (StateDead).
	EventDead EventKind = "dead"
)

// eventKinds lists every EventKind, for metrics.
var eventKinds = []EventKind{EventJoin, EventUpdate, EventSuspect, EventAlive, EventLeave, EventDead}

// Event is one change in the membership, as this node saw it. Member is its
// state right after the change.
type Event struct {
	Kind   EventKind
	Member Member
}
