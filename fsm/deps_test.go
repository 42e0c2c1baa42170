package fsm

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFSMImportsNothingAbove keeps the state machine at the bottom of rzone:
// it may use internal helpers, never the packages built on top of it.
func TestFSMImportsNothingAbove(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const mod = "github.com/rzonedb/rzone/"
	for _, dep := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(dep, mod)
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rest, "/")
		switch top {
		case "scheduler", "server", "zone", "client", "cmd":
			t.Errorf("fsm depends on %s; the state machine must import nothing above it", dep)
		}
	}
}
