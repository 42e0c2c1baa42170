package report

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// fakeHistory is 3 seconds of pays with one kill window and some failures.
func fakeHistory() []history.Op {
	var ops []history.Op
	add := func(op history.Op, t int64) {
		op.Index, op.Time = len(ops), t
		ops = append(ops, op)
	}
	for i := int64(0); i < 300; i++ {
		t := i * 1e7
		p := int(i % 4)
		add(history.Op{Type: history.Invoke, Process: p, F: history.FPay, User: 1, Key: "k"}, t)
		typ := history.OK
		switch {
		case i%37 == 0:
			typ = history.Info
		case i%53 == 0:
			typ = history.Fail
		}
		add(history.Op{Type: typ, Process: p, F: history.FPay, User: 1, Key: "k"}, t+int64(1e6+i*1e4))
		if i == 100 {
			add(history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FFault, Fault: "kill", FaultID: 1, Targets: []string{"n2"}}, t)
		}
		if i == 180 {
			add(history.Op{Type: history.Info, Process: history.NemesisProcess, F: history.FHeal, Fault: "kill", FaultID: 1}, t)
		}
	}
	return ops
}

func TestWriteRunFolder(t *testing.T) {
	dir := t.TempDir()
	r := &Run{
		Seed: 7, Workloads: []string{"payments"}, Nemeses: []string{"kill"}, Nodes: 3, Duration: "3s",
		Plan:   []string{"1.0s +0.8s kill leader"},
		Faults: map[string]int{"kill": 1},
		Results: []*checker.Result{
			{Checker: "set", Verdict: checker.Invalid, Anomalies: map[string]int{"lost-write": 1},
				Examples: []checker.Anomaly{{Kind: "lost-write", User: 1, Key: "k", Detail: "missing", Ops: []int{3}}}},
		},
		Ops: fakeHistory(),
	}
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"history.jsonl", "results.json", "nemesis.txt", "summary.txt", "latency.png", "throughput.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	for _, f := range []string{"latency.png", "throughput.png"} {
		fh, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(fh); err != nil {
			t.Errorf("%s is not a PNG: %v", f, err)
		}
		fh.Close()
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "summary.txt"))
	lines := strings.Split(strings.TrimSpace(string(sum)), "\n")
	if lines[len(lines)-1] != "valid: false" {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	if !strings.Contains(string(sum), "lost-write=1") || !strings.Contains(string(sum), "faults applied: kill=1") {
		t.Errorf("summary:\n%s", sum)
	}
	tl, _ := os.ReadFile(filepath.Join(dir, "nemesis.txt"))
	if !strings.Contains(string(tl), "#1 kill      n2") {
		t.Errorf("timeline:\n%s", tl)
	}
	ops, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil || len(ops) != len(r.Ops) {
		t.Errorf("history round trip: %d ops, %v", len(ops), err)
	}
}

func TestSummaryValid(t *testing.T) {
	var b bytes.Buffer
	Summary(&b, &Run{Valid: true, Results: []*checker.Result{{Checker: "bank", Verdict: checker.Valid}}})
	if !strings.HasSuffix(b.String(), "valid: true\n") {
		t.Fatalf("summary:\n%s", b.String())
	}
}

func TestSummaryUnknown(t *testing.T) {
	var b bytes.Buffer
	Summary(&b, &Run{Verdict: checker.Unknown, Results: []*checker.Result{{Checker: "lease", Verdict: checker.Unknown,
		Unchecked: []string{"no cut"}, Notes: []string{"a note"}}}})
	if !strings.HasSuffix(b.String(), "valid: unknown\n") {
		t.Fatalf("summary:\n%s", b.String())
	}
	// What could not be checked comes before the notes: it is why.
	why, note := strings.Index(b.String(), "  lease: unknown: no cut\n"), strings.Index(b.String(), "  lease: note: a note\n")
	if why < 0 || note < 0 || why > note {
		t.Fatalf("summary does not say why before its notes:\n%s", b.String())
	}
}
