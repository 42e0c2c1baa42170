package cluster

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestClusterLinksNoNodePackages: cluster/ holds a node's membership behind
// Host and never links the node (server), the scheduler or the client
// library.
func TestClusterLinksNoNodePackages(t *testing.T) {
	depcheck.Forbid(t, "cluster", "server", "scheduler", "client", "cmd", "backup")
}
