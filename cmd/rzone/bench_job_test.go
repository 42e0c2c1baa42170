package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBenchJob runs "rzone bench job" against a real "rzone dev": it seeds
// 500 users with a bill, runs the month's statement job over them and
// prints a result line whose users column counts every one of them.
func TestBenchJob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, api := startDev(t)
	out, err := exec.Command(bin, "bench", "job", "--addr", api, "--users", "500", "--clients", "16", "--batch", "100").CombinedOutput()
	t.Logf("rzone bench job:\n%s", out)
	if err != nil {
		t.Fatalf("bench job: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.Fields(lines[len(lines)-1])
	head := strings.Fields(lines[len(lines)-2])
	if len(head) < 4 || head[3] != "users" || len(last) < 4 || last[0] != "statement" || last[2] != "500" || last[3] != "500" {
		t.Fatalf("want a result row of 500 seeded users and 500 processed, got %q / %q", lines[len(lines)-2], lines[len(lines)-1])
	}
	if !strings.Contains(string(out), "accounts: 500 in") || !strings.Contains(string(out), "payments: 500 in") {
		t.Fatalf("no seeding progress in the output")
	}
}
