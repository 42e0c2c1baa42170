package metrics

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestMetricsLinksNoNodePackages: the collectors see a node's replicas only
// as Replica; they link none of the node's packages.
func TestMetricsLinksNoNodePackages(t *testing.T) {
	depcheck.Forbid(t, "internal/metrics", "server", "zone", "fsm", "cluster", "scheduler", "client", "cmd", "backup")
}
