package cluster

import (
	"errors"
	"testing"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/gossip"
)

// TestPlanInit: the plan rings the zones' backups, takes live gossip
// members when the request names no nodes, picks three meta voters, and
// refuses a node outside the zones, a zone with no node and too few nodes.
func TestPlanInit(t *testing.T) {
	member := func(id, z string, st gossip.State) gossip.Member {
		return gossip.Member{Meta: gossip.Meta{NodeID: id, Zone: z}, State: st}
	}
	gossiped := []gossip.Member{member("a1", "A", gossip.StateAlive), member("b1", "B", gossip.StateAlive),
		member("b2", "B", gossip.StateAlive), member("c1", "C", gossip.StateAlive), member("a2", "A", gossip.StateDead)}
	members := func() []gossip.Member { return gossiped }
	p, err := PlanInit(InitRequest{Zones: []string{"A", "B", "C"}}, members)
	if err != nil {
		t.Fatal(err)
	}
	wantZones := []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "C"}, {Name: "C", Backup: "A"}}
	if len(p.Zones) != len(wantZones) {
		t.Fatalf("zones %v, want %v", p.Zones, wantZones)
	}
	for i := range wantZones {
		if p.Zones[i] != wantZones[i] {
			t.Errorf("zone %d: %v, want %v", i, p.Zones[i], wantZones[i])
		}
	}
	voters := map[string]bool{}
	for _, nd := range p.Nodes {
		if nd.MetaVoter {
			voters[nd.ID] = true
		}
	}
	if len(p.Nodes) != 4 || len(voters) != 3 || !voters["a1"] || !voters["b1"] || !voters["c1"] {
		t.Errorf("nodes %+v: want a1, b1, b2, c1 with a1, b1, c1 meta voters", p.Nodes)
	}
	if p.ClusterID == "" {
		t.Error("no cluster id")
	}

	for _, tc := range []struct {
		name string
		req  InitRequest
	}{
		{"no zones", InitRequest{}},
		{"node outside the zones", InitRequest{Zones: []string{"A", "B"}}},
		{"zone with no node", InitRequest{Zones: []string{"A", "B", "C", "D"}}},
		{"too few nodes", InitRequest{Zones: []string{"A", "B", "C"}, ExpectNodes: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := PlanInit(tc.req, members); err == nil {
				t.Fatal("planned")
			} else if tooFew := errors.Is(err, ErrTooFewNodes); tooFew != (tc.req.ExpectNodes > 0) {
				t.Fatalf("%v: ErrTooFewNodes %v", err, tooFew)
			}
		})
	}
	named := []fsm.NodeInfo{{ID: "x1", Zone: "A"}}
	if p, err := PlanInit(InitRequest{Zones: []string{"A"}, Nodes: named}, func() []gossip.Member { t.Fatal("asked gossip"); return nil }); err != nil || len(p.Nodes) != 1 || p.Zones[0].Backup != "" {
		t.Fatalf("named nodes: %+v, %v", p, err)
	}
}

// TestParseWait: ?wait= defaults to 0, is capped at ten minutes and refuses
// what is not a duration.
func TestParseWait(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{{"", "0s", true}, {"30s", "30s", true}, {"2h", "10m0s", true}, {"-1s", "", false}, {"soon", "", false}} {
		d, err := ParseWait(tc.in)
		if (err == nil) != tc.ok || (tc.ok && d.String() != tc.want) {
			t.Errorf("ParseWait(%q) = %v, %v", tc.in, d, err)
		}
	}
}

// TestSameSet: order and repeats do not matter.
func TestSameSet(t *testing.T) {
	if !SameSet([]string{"B", "A", "A"}, []string{"A", "B"}) || SameSet([]string{"A"}, []string{"A", "B"}) {
		t.Fatal("SameSet")
	}
}
