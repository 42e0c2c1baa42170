package gossip

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// view is this node's record of every member it has heard of, and the
// source of Events. memberlist calls into it from its own goroutines, some
// holding memberlist's node lock, so no view method calls memberlist.
type view struct {
	self          string
	probeInterval time.Duration
	log           *slog.Logger
	metrics       *metrics

	mu      sync.Mutex
	records map[string]*record
	events  chan Event // closed by close; guarded by mu so no send races it
	closed  bool
}

func newView(self string, probeInterval time.Duration, buffer int, log *slog.Logger, m *metrics) *view {
	return &view{
		self:          self,
		probeInterval: probeInterval,
		log:           log,
		metrics:       m,
		records:       make(map[string]*record),
		events:        make(chan Event, buffer),
	}
}

// emit counts an event and queues it without blocking. Callers hold v.mu,
// which keeps events in the order the changes were made.
func (v *view) emit(kind EventKind, r *record) {
	v.metrics.events.WithLabelValues(string(kind)).Inc()
	if v.closed {
		return
	}
	select {
	case v.events <- Event{Kind: kind, Member: r.member()}:
	default:
		v.metrics.dropped.Inc()
	}
}

// decode reads the meta of n. memberlist's Alive delegate has already
// refused members whose meta does not decode, so a failure here is logged
// and the member kept with only its NodeID.
func (v *view) decode(n *memberlist.Node) wireMeta {
	w, err := decodeMeta(n.Name, n.Meta)
	if err != nil {
		v.log.Warn("gossip: member with unreadable meta", "node", n.Name, "err", err)
		return wireMeta{Meta: Meta{NodeID: n.Name}}
	}
	return w
}

// join records that memberlist counts n alive (first sight or back from
// dead or left).
func (v *view) join(n *memberlist.Node, now time.Time) {
	w := v.decode(n)
	v.mu.Lock()
	defer v.mu.Unlock()
	r := &record{meta: w.Meta, addr: n.Address(), state: StateAlive, since: now, heard: now, leaving: w.Leaving}
	v.records[n.Name] = r
	v.emit(EventJoin, r)
}

// update records new meta for n. The update proves n was alive when it
// sent it, so a suspect n is alive again.
func (v *view) update(n *memberlist.Node, now time.Time) {
	w := v.decode(n)
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.records[n.Name]
	if !ok || r.state.gone() {
		r = &record{meta: w.Meta, addr: n.Address(), state: StateAlive, since: now, heard: now, leaving: w.Leaving}
		v.records[n.Name] = r
		v.emit(EventJoin, r)
		return
	}
	r.heard, r.addr, r.leaving = now, n.Address(), w.Leaving
	if r.state == StateSuspect {
		r.state, r.since = StateAlive, now
		v.emit(EventAlive, r)
	}
	if !metaEqual(r.meta, w.Meta) {
		r.meta = w.Meta
		v.emit(EventUpdate, r)
	}
}

// leave records that memberlist dropped n: left if n announced its leave
// (the marker in its meta, or n is this node), dead otherwise.
func (v *view) leave(n *memberlist.Node, now time.Time) {
	w := v.decode(n)
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.records[n.Name]
	if !ok {
		r = &record{meta: w.Meta, addr: n.Address()}
		v.records[n.Name] = r
	}
	if r.state.gone() {
		return
	}
	r.since = now
	if w.Leaving || r.leaving || n.Name == v.self {
		r.state = StateLeft
		v.emit(EventLeave, r)
		return
	}
	r.state = StateDead
	v.emit(EventDead, r)
}

// ack records that a direct probe of the member named name was answered.
func (v *view) ack(name string, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.records[name]
	if !ok || r.state.gone() {
		return
	}
	r.heard = now
	if r.state == StateSuspect {
		r.state, r.since = StateAlive, now
		v.emit(EventAlive, r)
	}
}

// sweep marks as suspect the live members not heard from for longer than
// suspectAfter, and forgets members dead or left for longer than forget.
func (v *view) sweep(now time.Time, forget time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	after := suspectAfter(v.liveLocked(), v.probeInterval)
	for name, r := range v.records {
		switch {
		case r.state.gone():
			if now.Sub(r.since) > forget {
				delete(v.records, name)
			}
		case r.state == StateAlive && name != v.self && now.Sub(r.heard) > after:
			r.state, r.since = StateSuspect, now
			v.emit(EventSuspect, r)
		}
	}
}

// suspectAfter is how long a live member may go without a direct ack
// before this node suspects it. memberlist probes the members round robin,
// one per ProbeInterval, and reshuffles after each round, so a member is
// probed at least once every 2(n-1)-1 intervals; one more interval covers
// the probe itself and another the sweep's own period.
func suspectAfter(live int, probeInterval time.Duration) time.Duration {
	if live < 2 {
		live = 2
	}
	return time.Duration(2*live-1) * probeInterval
}

// liveLocked counts the members not dead or left, this node included.
func (v *view) liveLocked() int {
	n := 0
	for _, r := range v.records {
		if !r.state.gone() {
			n++
		}
	}
	return n
}

// sizes returns the number of live members and the number memberlist
// still keeps in its list: the live ones plus those dead or left within
// the last window (GossipToTheDeadTime).
func (v *view) sizes(now time.Time, window time.Duration) (live, listed int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range v.records {
		switch {
		case !r.state.gone():
			live++
			listed++
		case now.Sub(r.since) <= window:
			listed++
		}
	}
	return live, listed
}

// list returns every member, sorted by NodeID.
func (v *view) list() []Member {
	v.mu.Lock()
	ms := make([]Member, 0, len(v.records))
	for _, r := range v.records {
		ms = append(ms, r.member())
	}
	v.mu.Unlock()
	sortMembers(ms)
	return ms
}

// deadAddrs returns the gossip addresses of the members reported dead
// (not left), for reconnection.
func (v *view) deadAddrs() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var addrs []string
	for _, r := range v.records {
		if r.state == StateDead && r.addr != "" {
			addrs = append(addrs, r.addr)
		}
	}
	return addrs
}

// close closes the Events channel; later changes are still counted.
func (v *view) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed {
		v.closed = true
		close(v.events)
	}
}

// metaEqual reports whether a and b say the same.
func metaEqual(a, b Meta) bool {
	return a.NodeID == b.NodeID && a.Zone == b.Zone && a.HTTPAddr == b.HTTPAddr &&
		a.RaftAddr == b.RaftAddr && a.Capacity == b.Capacity && slices.Equal(a.Roles, b.Roles)
}
