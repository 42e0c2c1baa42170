package server

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/layout"
)

// TestInitPicksAsRestoreDoes: cluster init (pickMetaVoters, servers) and
// an offline restore (internal/layout) lay a cluster out the same way, so
// a restored cluster has the meta voters an init of its nodes would have
// picked.
func TestInitPicksAsRestoreDoes(t *testing.T) {
	for zones := 1; zones <= 4; zones++ {
		for per := 0; per <= 4; per++ {
			var names []string
			byZone := map[string][]fsm.NodeInfo{}
			for z := 0; z < zones; z++ {
				name := fmt.Sprintf("Z%d", z)
				names = append(names, name)
				for i := 0; i < (per+z)%5; i++ {
					byZone[name] = append(byZone[name], fsm.NodeInfo{ID: fmt.Sprintf("%s-n%d", name, i), Zone: name, RaftAddr: fmt.Sprintf("10.0.%d.%d:7000", z, i)})
				}
			}
			got, want := layout.MetaVoters(names, byZone), pickMetaVoters(names, byZone)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%d zones, %d nodes each: layout picks %+v, init %+v", zones, per, got, want)
			}
			if !reflect.DeepEqual(layout.Voters(got), servers(want)) {
				t.Fatalf("voters differ: %+v, %+v", layout.Voters(got), servers(want))
			}
		}
	}
	if got := groupDir("d", "zone/A"); got != filepath.Join("d", "groups", "zone-A") {
		t.Fatalf("groupDir: %s", got)
	}
	if id := layout.NewClusterID(); len(id) != len(newClusterID()) {
		t.Fatalf("cluster id %q", id)
	}
}
