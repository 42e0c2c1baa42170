package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestServerBinaryLinksNoGonum: the server binary does not link gonum
// (plot, its fonts and PDF/PNG writers). The scheduler simulation that draws
// charts with it lives in cmd/rzone-bench.
func TestServerBinaryLinksNoGonum(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/rzone: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 50 {
		t.Fatalf("go list -deps listed %d packages: %s", len(pkgs), out)
	}
	for _, p := range pkgs {
		if strings.HasPrefix(p, "gonum.org/") || strings.Contains(p, "/scheduler/sim") {
			t.Errorf("rzone links %s", p)
		}
	}
}
