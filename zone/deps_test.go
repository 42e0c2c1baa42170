package zone

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestZoneLinksNoNodePackages: zone/ holds a zone's drivers behind Host and
// never links the node (server), the scheduler or the client library.
func TestZoneLinksNoNodePackages(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./zone: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 20 {
		t.Fatalf("go list -deps listed %d packages: %s", len(pkgs), out)
	}
	const mod = "github.com/rzonedb/rzone/"
	for _, p := range pkgs {
		for _, bad := range []string{"server", "scheduler", "client"} {
			if p == mod+bad || strings.HasPrefix(p, mod+bad+"/") {
				t.Errorf("zone links %s", p)
			}
		}
	}
}
