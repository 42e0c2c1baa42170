package scheduler

import "fmt"

// Range is a half-open range of user ids, [Start, End), as the generation layer loads
// them from a zone. A task covers one Range.
type Range struct {
	Start int64 `yaml:"start" json:"start"`
	End   int64 `yaml:"end" json:"end"`
}

// Len returns the number of users in r; an empty or inverted range has none.
func (r Range) Len() int64 { return max(0, r.End-r.Start) }

func (r Range) String() string { return fmt.Sprintf("[%d,%d)", r.Start, r.End) }

// View is what a Slicer sees of the cluster when it decides a task size. The dispatcher
// fills it in; a test can write one by hand.
type View struct {
	// Pending is the number of users waiting to be handed out, not leased to anyone.
	Pending int64
	// OnlineSlots is the number of worker slots (concurrent tasks) online.
	OnlineSlots int
	// FreeSlots is the number of online slots holding no lease right now.
	FreeSlots int
	// InFlight is the number of users leased and not yet reported done.
	InFlight int64
	// SlotRate is how many users a second one slot of the worker in question processes,
	// as observed from its renewals; zero while unknown.
	SlotRate float64
	// ClusterRate is how many users a second all online slots process together, as
	// observed (workers not observed yet count at the mean); zero while unknown.
	ClusterRate float64
}

// Slicer decides how pending work is cut into tasks. Implementations must be
// deterministic functions of their inputs.
type Slicer interface {
	// Size returns how many users the next task handed to a free slot should cover.
	// The dispatcher clamps the answer to [1, v.Pending].
	Size(v View) int64
	// Keep is asked at each renewal of a lease that still has remaining users to
	// process; it returns how many of them, from 0 to remaining, the lease keeps. The
	// rest goes back to the pending queue to be handed to other slots. stalled says the
	// lease made no progress since its last renewal (its slot is paused). Returning
	// remaining keeps everything.
	Keep(v View, remaining int64, stalled bool) int64
}

// pending is the queue of ranges not leased to anyone, in hand-out order. Work that
// comes back (an expired lease, the tail cut from a running one) goes to the front, so it
// is handed out before fresh work.
type pending struct {
	ranges []Range
	users  int64
}

func (p *pending) pushBack(r Range) {
	if r.Len() == 0 {
		return
	}
	p.ranges = append(p.ranges, r)
	p.users += r.Len()
}

func (p *pending) pushFront(r Range) {
	if r.Len() == 0 {
		return
	}
	p.ranges = append(p.ranges, Range{})
	copy(p.ranges[1:], p.ranges)
	p.ranges[0] = r
	p.users += r.Len()
}

// take cuts up to n users from the front range. It never joins two ranges, so a short
// range at the front comes out whole and alone.
func (p *pending) take(n int64) Range {
	if len(p.ranges) == 0 || n <= 0 {
		return Range{}
	}
	front := &p.ranges[0]
	if n >= front.Len() {
		r := *front
		p.ranges = p.ranges[1:]
		p.users -= r.Len()
		return r
	}
	r := Range{Start: front.Start, End: front.Start + n}
	front.Start += n
	p.users -= n
	return r
}
