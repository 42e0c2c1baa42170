package zone

import (
	"context"
	"errors"
	"testing"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// TestZoneStatusLagAndUnreachable: a zone's status takes its leader from
// the replicas the nodes report, counts each replica's lag in state-machine
// entries behind the leader's applied index, and shows a node that stopped
// answering with what it last reported, as unreachable.
func TestZoneStatusLagAndUnreachable(t *testing.T) {
	st := fsm.MetaState{Epoch: 3,
		Zones:  []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}},
		Nodes:  []fsm.NodeInfo{{ID: "a1", Zone: "A"}, {ID: "a2", Zone: "A"}, {ID: "b1", Zone: "B"}},
		Shards: []fsm.ShardRoute{{Zone: "A"}, {Zone: "B"}, {Zone: "A"}}}
	answers := map[string][]api.ReplicaState{
		"a2": {{Node: "a2", Group: "zone/A", State: "Follower", Voter: true, AppliedIndex: 7}},
		"b1": {{Node: "b1", Group: "zone/A", State: "Follower", AppliedIndex: 4}, {Node: "b1", Group: "zone/B", State: "Leader", Voter: true, AppliedIndex: 2}},
	}
	down := false
	s := &Status{NodeID: "a1",
		Local: func() []api.ReplicaState {
			return []api.ReplicaState{{Node: "a1", Group: "zone/A", State: "Leader", Voter: true, AppliedIndex: 10, LastIndex: 12, Term: 2, Ready: true}}
		},
		Get: func(_ context.Context, addr string, out *[]api.ReplicaState) error {
			if down && addr == "b1" {
				return errors.New("no answer")
			}
			*out = answers[addr]
			return nil
		}}
	for i := range st.Nodes {
		st.Nodes[i].HTTPAddr = st.Nodes[i].ID
	}
	check := func(zs api.ZoneStatus) {
		t.Helper()
		if zs.Zone != "A" || zs.Leader != "a1" || zs.LastIndex != 12 || zs.Term != 2 || !zs.Ready {
			t.Fatalf("zone A: %+v", zs)
		}
		if len(zs.Shards) != 2 || zs.Shards[0] != 0 || zs.Shards[1] != 2 {
			t.Errorf("zone A's shards %v, want [0 2]", zs.Shards)
		}
		if len(zs.Voters) != 2 || zs.Voters[0].Node != "a1" || zs.Voters[1].Node != "a2" || zs.Voters[1].LagEntries != 3 {
			t.Errorf("zone A's voters %+v", zs.Voters)
		}
		if len(zs.Followers) != 1 || zs.Followers[0].Node != "b1" || zs.Followers[0].LagEntries != 6 {
			t.Errorf("zone A's followers %+v", zs.Followers)
		}
	}
	list := s.Zones(context.Background(), st)
	if len(list.Zones) != 2 || list.Epoch != 3 {
		t.Fatalf("zones %+v", list)
	}
	check(list.Zones[0])
	if f := list.Zones[0].Followers[0]; f.State != "Follower" {
		t.Errorf("b1 answering: state %q", f.State)
	}
	down = true
	list = s.Zones(context.Background(), st)
	check(list.Zones[0])
	if f := list.Zones[0].Followers[0]; f.State != "unreachable" || f.AppliedIndex != 4 {
		t.Errorf("b1 not answering: %+v, want unreachable at its last applied index 4", f)
	}
}
