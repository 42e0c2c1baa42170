//go:build faultinject

package fsm

import (
	"strings"
	"testing"

	"github.com/rzonedb/rzone/internal/inject"
)

// TestRouteStoreHomeIsCaught plants the route-store-home bug (a shard move
// routes a failover store's shard home while the recovery still merges the
// store) and shows that the random walks of TestMetaRoutingInvariants find
// it, and name it.
func TestRouteStoreHomeIsCaught(t *testing.T) {
	if err := inject.Set(inject.RouteStoreHome); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inject.Set("") })
	for seed := range uint64(300) {
		if v := walkMeta(seed, 250); v != "" {
			if !strings.Contains(v, "not by the end of the recovery") {
				t.Fatalf("seed %d: the walk failed, but not on the planted bug: %s", seed, v)
			}
			t.Logf("seed %d caught it: %s", seed, strings.SplitN(v, "\n", 2)[0])
			return
		}
	}
	t.Fatal("planted route-store-home: no walk of 300 seeds found a store shard routed home before its recovery ended")
}
