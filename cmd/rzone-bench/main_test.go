package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchSchedRuns runs `rzone-bench sched` on the simulation's two
// small scenarios with one seed: it prints the table and the closing ratio
// line and writes the charts.
func TestBenchSchedRuns(t *testing.T) {
	out := t.TempDir()
	root := newRootCmd()
	var stdout bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"sched", "--seeds", "1", "--out", out,
		"--scenario", "../../scheduler/sim/testdata/small-a.yaml", "--scenario", "../../scheduler/sim/testdata/small-b.json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "makespan ratio:") {
		t.Fatalf("no ratio line in:\n%s", stdout.String())
	}
	pngs, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(pngs) == 0 {
		entries, _ := os.ReadDir(out)
		t.Fatalf("no PNG chart in %s: %v", out, entries)
	}
}
