package zone

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestZoneLinksNoNodePackages: zone/ holds a zone's drivers behind Host and
// never links the node (server), the scheduler or the client library.
func TestZoneLinksNoNodePackages(t *testing.T) {
	depcheck.Forbid(t, "zone", "server", "scheduler", "client", "cmd", "backup")
}
