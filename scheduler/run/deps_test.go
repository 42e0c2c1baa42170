package run

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestRunImportsNoNodePackage: the scheduler's packages, this runtime
// included, reach the node only through Host; none of them links rzone's
// server, zone or client packages.
func TestRunImportsNoNodePackage(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/rzonedb/rzone/scheduler/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./scheduler/...: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 20 {
		t.Fatalf("go list -deps listed %d packages: %s", len(pkgs), out)
	}
	const mod = "github.com/rzonedb/rzone/"
	for _, p := range pkgs {
		rest, ok := strings.CutPrefix(p, mod)
		if !ok {
			continue
		}
		switch top, _, _ := strings.Cut(rest, "/"); top {
		case "server", "zone", "client":
			t.Errorf("scheduler/... depends on %s", p)
		}
	}
}
