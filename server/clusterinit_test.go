package server

import (
	"net/http"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
)

// TestClusterInitOtherZonesIsRefused: init of an initialized cluster with
// its own zone set (in any order) stays an idempotent 200; with another
// zone set it answers 409 cluster_exists instead of the old table.
func TestClusterInitOtherZonesIsRefused(t *testing.T) {
	mc := setupZones(t, []string{"A", "B"}, 1)
	for _, tt := range []struct {
		body   string
		status int
		code   api.Code
	}{
		{`{"zones":["A","B"]}`, http.StatusOK, ""},
		{`{"zones":["B","A"]}`, http.StatusOK, ""},
		{`{"zones":["A","B","C"]}`, http.StatusConflict, api.CodeClusterExists},
		{`{"zones":["A"]}`, http.StatusConflict, api.CodeClusterExists},
	} {
		if st, code := mc.call(mc.hc, 1, http.MethodPost, "/v1/cluster/init", "", tt.body); st != tt.status || code != tt.code {
			t.Errorf("init %s: %d %q; want %d %q", tt.body, st, code, tt.status, tt.code)
		}
	}
}
