package run

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestRunImportsNoNodePackage: the scheduler's packages, this runtime
// included, reach the node only through Host; none of them links rzone's
// server, zone or client packages.
func TestRunImportsNoNodePackage(t *testing.T) {
	for _, pkg := range []string{"scheduler", "scheduler/run", "scheduler/sim"} {
		depcheck.Forbid(t, pkg, "server", "zone", "client", "cmd", "backup")
	}
}
