package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `rzone version` and `rzone --version` print the same line,
// naming the version, the revision and the Go version, and exit 0.
func TestVersion(t *testing.T) {
	var first string
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitOK {
			t.Fatalf("rzone %v: exit %d, stderr %q", args, code, errOut.String())
		}
		got := out.String()
		if !strings.HasPrefix(got, "rzone ") || !strings.Contains(got, "revision ") || !strings.Contains(got, runtime.Version()) {
			t.Fatalf("rzone %v printed %q; want version, revision and %s", args, got, runtime.Version())
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Fatalf("rzone --version printed %q, rzone version %q", got, first)
		}
	}
}
