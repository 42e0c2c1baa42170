package depcheck

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Module is rzone's module path.
const Module = "github.com/rzonedb/rzone/"

// Forbid runs `go list -deps pkg` and fails t for every dependency under
// one of the module's top folders in forbidden ("server", "client", …).
func Forbid(t *testing.T, pkg string, forbidden ...string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "list", "-deps", Module+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 5 {
		t.Fatalf("go list -deps %s listed %d packages: %s", pkg, len(pkgs), out)
	}
	for _, p := range pkgs {
		rest, ok := strings.CutPrefix(p, Module)
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rest, "/")
		for _, f := range forbidden {
			if top == f || rest == f || strings.HasPrefix(rest, f+"/") {
				t.Errorf("%s depends on %s", pkg, p)
			}
		}
	}
}
