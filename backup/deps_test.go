package backup

import (
	"testing"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// TestBackupImportsNoNodePackage: a restore runs with no node; it links
// none of rzone's server, client or command packages.
func TestBackupImportsNoNodePackage(t *testing.T) {
	depcheck.Forbid(t, "backup", "server", "client", "cmd")
}
