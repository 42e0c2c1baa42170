package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// TestFailoverOfALiveZoneNeedsForce: a zone that holds a valid lease is
// not failed over on a plain request (409 lease_valid, phase unchanged);
// with force=true it is.
func TestFailoverOfALiveZoneNeedsForce(t *testing.T) {
	mc := setupZones(t, []string{"A", "B"}, 1)
	if st, code := mc.call(mc.hc, 1, http.MethodPost, "/v1/zones/A/failover?wait=0s", "", ""); st != http.StatusConflict || code != api.CodeLeaseValid {
		t.Fatalf("failover of live zone A without force: %d %q; want 409 %s", st, code, api.CodeLeaseValid)
	}
	if st, code := mc.call(mc.hc, 1, http.MethodPost, "/v1/zones/A/failover?wait=0s&force=maybe", "", ""); st != http.StatusBadRequest {
		t.Fatalf("force=maybe: %d %q; want 400", st, code)
	}
	if zi, _ := mc.nodes[1].metaFSM.State().ZoneOf("A"); zi.PhaseOf() != fsm.PhaseNormal {
		t.Fatalf("zone A is %s after a refused failover", zi.PhaseOf())
	}
	if st, code := mc.call(mc.hc, 1, http.MethodPost, "/v1/zones/A/failover?wait=0s&force=true", "", ""); st != http.StatusOK && st != http.StatusAccepted {
		t.Fatalf("forced failover of zone A: %d %q", st, code)
	}
	waitFor(t, 10*time.Second*slow, "zone A failing over", func() bool {
		zi, _ := mc.nodes[1].metaFSM.State().ZoneOf("A")
		return zi.PhaseOf() != fsm.PhaseNormal
	})
}
