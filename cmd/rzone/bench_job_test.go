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

// TestBenchPay runs "rzone bench pay --batch" against a real "rzone dev":
// it prints the seeding line, the result row, whether booking into bills
// kept up, and every node's resident memory.
func TestBenchPay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, api := startDev(t)
	out, err := exec.Command(bin, "bench", "pay", "--addr", api, "--accounts", "200", "--clients", "4", "--batch", "20", "--time", "2s").CombinedOutput()
	t.Logf("rzone bench pay:\n%s", out)
	if err != nil {
		t.Fatalf("bench pay: %v", err)
	}
	text := string(out)
	for _, want := range []string{"seeded 200 accounts in", "\nclients  batch  payments", "\nbooking: ", "\nresident memory: " + api + " "} {
		if !strings.Contains(text, want) {
			t.Fatalf("no %q in the output", want)
		}
	}
	if !strings.Contains(text, "booking: kept up") && !strings.Contains(text, "caught up") {
		t.Fatalf("booking did not catch up after a 2 s load")
	}

	// Single payments of many workers sharing requests, over the dev
	// cluster's zones: none fails.
	out, err = exec.Command(bin, "bench", "pay", "--addr", api, "--accounts", "200", "--skip-seed", "--clients", "32", "--coalesce", "2", "--time", "2s").CombinedOutput()
	t.Logf("rzone bench pay --coalesce 2:\n%s", out)
	if err != nil {
		t.Fatalf("bench pay --coalesce: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "clients ") && i+1 < len(lines) {
			row := strings.Fields(lines[i+1])
			if len(row) < 9 || row[0] != "32" || row[2] == "0" || row[8] != "0" {
				t.Fatalf("result row %q: want 32 clients, payments made and none failed", lines[i+1])
			}
			return
		}
	}
	t.Fatal("no result row")
}

func TestMetricSamples(t *testing.T) {
	page := "# HELP rzone_post_behind_seconds x\nrzone_post_behind_seconds{group=\"z1\"} 0.5\nrzone_post_behind_seconds{group=\"z2\"} 2\nrzone_post_behind_seconds_other 9\nrzone_post_behind_seconds 1\n"
	got := metricSamples(page, "rzone_post_behind_seconds")
	if len(got) != 3 || got[0] != 0.5 || got[1] != 2 || got[2] != 1 {
		t.Fatalf("samples %v, want [0.5 2 1]", got)
	}
}
