package scheduler

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestSchedulerImportsOnlyLowPackages: the scheduler's pure logic links
// neither the state machine nor the runtime built on it; its lease rules
// come from internal/lease, below both.
func TestSchedulerImportsOnlyLowPackages(t *testing.T) {
	depcheck.Forbid(t, "scheduler", "fsm", "scheduler/run", "scheduler/sim", "cluster", "server", "zone", "client", "cmd", "backup")
}
