package layout

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestLayoutImportsNoNodePackage: the layout is shared by the node and the
// offline restore, and depends on neither.
func TestLayoutImportsNoNodePackage(t *testing.T) {
	depcheck.Forbid(t, "internal/layout", "server", "zone", "backup", "client", "cmd", "scheduler")
}
