package runner

import (
	"errors"
	"testing"

	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/history"
	"github.com/rzonedb/rzone/tests/jepsen/report"
)

// TestRunChecks: a requested fault that never applied, or a cluster that
// did not converge, leaves the run's verdict unknown, never valid.
func TestRunChecks(t *testing.T) {
	applied := []history.Op{
		{Process: history.NemesisProcess, F: history.FFault, Fault: "kill", FaultID: 1, Time: 1},
		{Process: history.NemesisProcess, F: history.FHeal, Fault: "kill", FaultID: 1, Time: 2},
	}
	failed := []history.Op{
		{Process: history.NemesisProcess, F: history.FFault, Fault: "kill", FaultID: 1, Time: 1, Error: "no such node"},
	}
	valid := &checker.Result{Checker: "set", Verdict: checker.Valid}
	tests := []struct {
		name    string
		ops     []history.Op
		nemeses []string
		settle  error
		want    checker.Verdict
	}{
		{name: "fault applied, cluster settled", ops: applied, nemeses: []string{"kill"}, want: checker.Valid},
		{name: "no fault requested", want: checker.Valid},
		{name: "requested fault never applied", ops: failed, nemeses: []string{"kill"}, want: checker.Unknown},
		{name: "cluster did not settle", ops: applied, nemeses: []string{"kill"}, settle: errors.New("applied indexes differ"), want: checker.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &report.Run{Nemeses: tt.nemeses, Ops: tt.ops}
			rs := append([]*checker.Result{valid}, runChecks(rep, tt.settle)...)
			if got := checker.Combine(rs); got != tt.want {
				t.Fatalf("verdict %s, want %s", got, tt.want)
			}
		})
	}
}
