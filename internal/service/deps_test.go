package service

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestServiceLinksNoNodePackages: the runner knows nothing of a node.
func TestServiceLinksNoNodePackages(t *testing.T) {
	depcheck.Forbid(t, "internal/service", "server", "zone", "fsm", "cluster", "scheduler", "client", "cmd", "backup")
}
