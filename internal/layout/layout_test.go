package layout

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
)

// TestMetaVotersRoundRobin: the meta voters are picked round robin over
// the zones in their order (each zone's nodes sorted by id), three in all,
// fewer if there are fewer nodes; every node is listed, zone by zone.
func TestMetaVotersRoundRobin(t *testing.T) {
	for zones := 1; zones <= 4; zones++ {
		for per := 0; per <= 4; per++ {
			var names []string
			byZone := map[string][]fsm.NodeInfo{}
			total := 0
			for z := 0; z < zones; z++ {
				name := fmt.Sprintf("Z%d", z)
				names = append(names, name)
				for i := 0; i < (per+z)%5; i++ {
					byZone[name] = append(byZone[name], fsm.NodeInfo{ID: fmt.Sprintf("%s-n%d", name, i), Zone: name, RaftAddr: fmt.Sprintf("10.0.%d.%d:7000", z, i)})
					total++
				}
			}
			// The expected voters, round by round.
			want := map[string]bool{}
			for round := 0; round < 5 && len(want) < 3; round++ {
				for _, z := range names {
					if round < len(byZone[z]) && len(want) < 3 {
						want[byZone[z][round].ID] = true
					}
				}
			}
			got := MetaVoters(names, byZone)
			if len(got) != total {
				t.Fatalf("%d zones, %d nodes each: %d nodes listed, want %d", zones, per, len(got), total)
			}
			i := 0
			for _, z := range names {
				for _, nd := range byZone[z] {
					if got[i].ID != nd.ID || got[i].Zone != z {
						t.Fatalf("%d zones, %d nodes each: node %d is %s, want %s", zones, per, i, got[i].ID, nd.ID)
					}
					if got[i].MetaVoter != want[nd.ID] {
						t.Fatalf("%d zones, %d nodes each: %s voter %v, want %v", zones, per, nd.ID, got[i].MetaVoter, want[nd.ID])
					}
					i++
				}
			}
			if total >= 3 && len(want) != 3 {
				t.Fatalf("%d zones, %d nodes each: %d voters", zones, per, len(want))
			}
		}
	}
	// Three zones of two: the first node of each zone votes.
	byZone := map[string][]fsm.NodeInfo{
		"A": {{ID: "a1", Zone: "A"}, {ID: "a2", Zone: "A"}},
		"B": {{ID: "b1", Zone: "B"}, {ID: "b2", Zone: "B"}},
		"C": {{ID: "c1", Zone: "C"}, {ID: "c2", Zone: "C"}},
	}
	var voters []string
	for _, nd := range MetaVoters([]string{"A", "B", "C"}, byZone) {
		if nd.MetaVoter {
			voters = append(voters, nd.ID)
		}
	}
	if !reflect.DeepEqual(voters, []string{"a1", "b1", "c1"}) {
		t.Fatalf("voters %v", voters)
	}
	// One zone of five: its first three.
	var one []fsm.NodeInfo
	for i := 1; i <= 5; i++ {
		one = append(one, fsm.NodeInfo{ID: fmt.Sprintf("n%d", i), Zone: "A"})
	}
	voters = nil
	for _, nd := range MetaVoters([]string{"A"}, map[string][]fsm.NodeInfo{"A": one}) {
		if nd.MetaVoter {
			voters = append(voters, nd.ID)
		}
	}
	if !reflect.DeepEqual(voters, []string{"n1", "n2", "n3"}) {
		t.Fatalf("voters %v", voters)
	}
}

func TestVotersGroupDirClusterID(t *testing.T) {
	got := Voters([]fsm.NodeInfo{{ID: "a", RaftAddr: "h:1"}, {ID: "b", RaftAddr: "h:2"}})
	want := []raft.Server{{ID: "a", Address: "h:1", Suffrage: raft.Voter}, {ID: "b", Address: "h:2", Suffrage: raft.Voter}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("voters %+v", got)
	}
	if got := GroupDir("d", "zone/A"); got != filepath.Join("d", "groups", "zone-A") {
		t.Fatalf("GroupDir: %s", got)
	}
	if got := GroupDir("d", "meta"); got != filepath.Join("d", "groups", "meta") {
		t.Fatalf("GroupDir: %s", got)
	}
	a, b := NewClusterID(), NewClusterID()
	if len(a) != 16 || a == b {
		t.Fatalf("cluster ids %q %q", a, b)
	}
}
