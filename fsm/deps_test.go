package fsm

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestFSMImportsNothingAbove keeps the state machine at the bottom of rzone:
// it may use internal helpers, never the packages built on top of it.
func TestFSMImportsNothingAbove(t *testing.T) {
	depcheck.Forbid(t, "fsm", "scheduler", "server", "zone", "client", "cmd", "backup")
}
