package server

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageStaysTheNode: server/ is the node (config, services, the HTTP
// surface, metrics); the logic of failover, leases, routing, shard moves and
// batch runs lives in the packages named for them. This keeps it that way:
// under 3,000 non-test lines in all, no file over 500.
func TestPackageStaysTheNode(t *testing.T) {
	const maxTotal, maxFile = 3000, 500
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	total, count := 0, 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		count++
		n := countLines(t, name)
		if n > maxFile {
			t.Errorf("%s has %d lines; a file of package server holds at most %d", name, n, maxFile)
		}
		total += n
	}
	if total >= maxTotal {
		t.Errorf("package server has %d non-test lines; it must stay under %d (move logic to the package that owns it)", total, maxTotal)
	}
	t.Logf("package server: %d non-test lines in %d files", total, count)
}

func countLines(t *testing.T, name string) int {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
