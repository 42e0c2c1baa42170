package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestBenchSecurity runs "rzone bench security" briefly: it must start a
// secure and an open dev cluster, run the load on each (a row per round
// and mode, payments made, none failed) and print the ratio.
func TestBenchSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildRzone(t)
	out, err := exec.Command(bin, "bench", "security", "--clients", "4", "--time", "1s", "--rounds", "1", "--zones", "1").CombinedOutput()
	t.Logf("rzone bench security:\n%s", out)
	if err != nil {
		t.Fatalf("bench security: %v", err)
	}
	rows := map[string]bool{}
	ratio := false
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 8 && f[0] == "1" && (f[1] == "secure" || f[1] == "open") {
			if n, _ := strconv.Atoi(f[3]); n == 0 || f[7] != "0" {
				t.Errorf("%s: %d payments, %s failed; want some and none failed", f[1], n, f[7])
			}
			rows[f[1]] = true
		}
		if v, ok := strings.CutPrefix(l, "ratio secure/open: "); ok {
			if r, err := strconv.ParseFloat(v, 64); err != nil || r <= 0 {
				t.Errorf("ratio %q", v)
			}
			ratio = true
		}
	}
	if !rows["secure"] || !rows["open"] || !ratio {
		t.Fatalf("want a secure row, an open row and the ratio; got rows %v, ratio %v", rows, ratio)
	}
}

func TestMetricValue(t *testing.T) {
	page := "# HELP process_resident_memory_bytes Resident memory size in bytes.\n" +
		"# TYPE process_resident_memory_bytes gauge\n" +
		"process_resident_memory_bytes_other 1\n" +
		"process_resident_memory_bytes 3.3554432e+07\n"
	if v, ok := metricValue(page, "process_resident_memory_bytes"); !ok || v != 32<<20 {
		t.Fatalf("got %v %v, want 32 MiB", v, ok)
	}
	if _, ok := metricValue(page, "go_goroutines"); ok {
		t.Fatal("found a metric the page lacks")
	}
}
