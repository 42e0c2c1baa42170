package gossip

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func testNode(t *testing.T, id string, leaving bool) *memberlist.Node {
	t.Helper()
	b, err := encodeMeta(testMeta(id), leaving)
	if err != nil {
		t.Fatal(err)
	}
	return &memberlist.Node{Name: id, Addr: net.IPv4(127, 0, 0, 1), Port: 7946, Meta: b}
}

func newTestView(t *testing.T, buffer int) *view {
	t.Helper()
	m := newMetrics()
	v := newView("a1", 100*time.Millisecond, buffer, testLogger(t), m)
	m.members.view = v
	return v
}

// drain returns the kinds of the queued events.
func drain(v *view) []EventKind {
	var kinds []EventKind
	for {
		select {
		case ev := <-v.events:
			kinds = append(kinds, ev.Kind)
		default:
			return kinds
		}
	}
}

func TestViewSuspectAndBack(t *testing.T) {
	v := newTestView(t, 16)
	t0 := time.Now()
	v.join(testNode(t, "a1", false), t0)
	v.join(testNode(t, "b1", false), t0)
	v.join(testNode(t, "c1", false), t0)

	after := suspectAfter(3, v.probeInterval) // 500ms for 3 members
	v.ack("b1", t0.Add(after))
	v.sweep(t0.Add(after+time.Millisecond), time.Hour)
	if s := v.records["c1"].state; s != StateSuspect {
		t.Fatalf("c1 unheard for %s is %s, want suspect", after, s)
	}
	if s := v.records["b1"].state; s != StateAlive {
		t.Errorf("b1, just acked, is %s", s)
	}
	if s := v.records["a1"].state; s != StateAlive {
		t.Errorf("this node is %s: it must never suspect itself", s)
	}
	v.ack("c1", t0.Add(after+2*time.Millisecond))
	if s := v.records["c1"].state; s != StateAlive {
		t.Errorf("c1 acked again is %s, want alive", s)
	}
	want := []EventKind{EventJoin, EventJoin, EventJoin, EventSuspect, EventAlive}
	if got := drain(v); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestViewDeadOrLeft(t *testing.T) {
	v := newTestView(t, 16)
	now := time.Now()
	for _, id := range []string{"a1", "b1", "c1", "d1"} {
		v.join(testNode(t, id, false), now)
	}
	v.leave(testNode(t, "b1", false), now)
	v.update(testNode(t, "c1", true), now) // the leave marker arrives first
	v.leave(testNode(t, "c1", false), now)
	v.leave(testNode(t, "d1", true), now) // the marker in the last meta
	v.leave(testNode(t, "a1", false), now)
	want := map[string]State{"a1": StateLeft, "b1": StateDead, "c1": StateLeft, "d1": StateLeft}
	for id, s := range want {
		if got := v.records[id].state; got != s {
			t.Errorf("%s is %s, want %s", id, got, s)
		}
	}
	drain(v)
	v.leave(testNode(t, "b1", false), now) // a repeat changes nothing
	if got := drain(v); len(got) != 0 {
		t.Errorf("a second leave emitted %v", got)
	}
	if got := v.deadAddrs(); len(got) != 1 || got[0] != "127.0.0.1:7946" {
		t.Errorf("deadAddrs = %v, want b1's", got)
	}

	v.join(testNode(t, "b1", false), now) // restarted
	if s := v.records["b1"].state; s != StateAlive {
		t.Errorf("b1 back is %s", s)
	}
	v.sweep(now.Add(2*time.Hour), time.Hour)
	if len(v.records) != 1 || v.records["b1"] == nil {
		t.Errorf("after ForgetAfter the view holds %v, want only b1", v.list())
	}
}

func TestViewDropsWhenFull(t *testing.T) {
	v := newTestView(t, 2)
	now := time.Now()
	for _, id := range []string{"a1", "b1", "c1", "d1"} {
		v.join(testNode(t, id, false), now)
	}
	if got := len(drain(v)); got != 2 {
		t.Errorf("%d events queued, want 2", got)
	}
	g := &Gossip{view: v, metrics: v.metrics}
	if got := gaugeValue(t, g, "rzone_gossip_dropped_events_total", "", ""); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
	if got := gaugeValue(t, g, "rzone_gossip_events_total", "kind", "join"); got != 4 {
		t.Errorf("join events = %v, want 4", got)
	}
	v.close()
	v.join(testNode(t, "e1", false), now) // after close: counted, not sent
	if _, ok := <-v.events; ok {
		t.Errorf("events channel open after close")
	}
}
