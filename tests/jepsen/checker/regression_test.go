package checker

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// TestSavedHistories re-checks histories recorded from real runs: one
// valid run with a leader kill, and one run against each planted bug of a
// -tags faultinject build. A checker change that stops flagging the bugs,
// or starts flagging the clean run, fails here without a cluster.
func TestSavedHistories(t *testing.T) {
	tests := []struct {
		file     string
		checkers []Checker
		// anomaly is the kind that must be reported; "" wants all valid.
		anomaly string
	}{
		{
			file: "kill-valid.jsonl.gz",
			checkers: []Checker{
				Set{Workload: "payments"}, Bank{Workload: "payments"}, Linearizable{Workload: "register"},
			},
		},
		{
			file:     "stale-read.jsonl.gz",
			checkers: []Checker{Linearizable{Workload: "register"}},
			anomaly:  StaleRead,
		},
		{
			file:     "skip-idempotency.jsonl.gz",
			checkers: []Checker{Set{Workload: "payments"}, Bank{Workload: "payments"}},
			anomaly:  DoubleCharge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ops := readGz(t, filepath.Join("testdata", tt.file))
			results, v := CheckAll(ops, tt.checkers...)
			seen := map[string]bool{}
			for _, r := range results {
				t.Logf("%s: %s %v", r.Checker, r.Verdict, r.Anomalies)
				for _, k := range r.AnomalyKinds() {
					seen[k] = true
				}
			}
			if tt.anomaly == "" {
				if v != Valid {
					t.Fatal("a clean history is reported invalid")
				}
				return
			}
			if v != Invalid || !seen[tt.anomaly] {
				t.Fatalf("want %s reported, got %s, anomalies %v", tt.anomaly, v, seen)
			}
		})
	}
}

func readGz(t *testing.T, path string) []history.Op {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := history.Read(zr)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}
