package checker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// corpusDir holds the corpus: one history a file, JSON lines in the
// history package's format after a first line that says what the checkers
// must conclude (corpusHeader). Broken histories that a checker once called
// valid stay here, with sound ones that must stay valid, so that a checker
// that calls everything valid, or everything invalid, fails.
const corpusDir = "testdata/corpus"

// corpusHeader is the first line of a corpus file.
type corpusHeader struct {
	Expect expectation `json:"expect"`
}

// expectation is what the checkers must conclude about a corpus history.
type expectation struct {
	// Verdict is what each of Checkers must say. An invalid history must
	// also be invalid overall with Anomaly among the kinds reported; a
	// valid or unknown one must be called invalid by no checker.
	Verdict  Verdict  `json:"verdict"`
	Anomaly  string   `json:"anomaly,omitempty"`
	Checkers []string `json:"checkers"`
	About    string   `json:"about"`
}

// corpusCheckers are every checker, configured as the runner configures
// them, by name.
func corpusCheckers() map[string]Checker {
	return map[string]Checker{
		"set":          Set{},
		"bank":         Bank{},
		"linearizable": Linearizable{Workload: "register", Timeout: 10 * time.Second},
		"sched":        Sched{},
		"lease":        Lease{Duration: 3 * time.Second, Faults: []string{"partition-zone"}},
		"failover":     Failover{Faults: []string{"failover"}},
		"faults":       Faults{Kinds: []string{"partition-zone"}},
	}
}

type corpusEntry struct {
	name   string
	expect expectation
	ops    []history.Op
}

func readCorpus(t *testing.T) []corpusEntry {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(corpusDir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no corpus in %s", corpusDir)
	}
	var out []corpusEntry
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		head, rest, _ := bytes.Cut(data, []byte("\n"))
		var h corpusHeader
		if err := json.Unmarshal(head, &h); err != nil || h.Expect.Verdict == "" || len(h.Expect.Checkers) == 0 {
			t.Fatalf("%s: first line is no expectation (%v): %s", p, err, head)
		}
		ops, err := history.Read(bufio.NewReader(bytes.NewReader(rest)))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, corpusEntry{name: strings.TrimSuffix(filepath.Base(p), ".jsonl"), expect: h.Expect, ops: ops})
	}
	return out
}

// TestCorpus runs every checker over every history of the corpus: the
// checkers a history names must reach its verdict (and name its anomaly),
// an invalid history must be invalid overall, and no checker may call a
// valid or unknown one invalid.
func TestCorpus(t *testing.T) {
	all := corpusCheckers()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	verdicts := map[Verdict]int{}
	for _, c := range readCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			verdicts[c.expect.Verdict]++
			results := map[string]*Result{}
			var rs []*Result
			for _, n := range names {
				r := all[n].Check(c.ops)
				results[n] = r
				rs = append(rs, r)
				t.Logf("%s: %s %v %v unchecked=%v notes=%v", n, r.Verdict, r.Anomalies, r.Examples, r.Unchecked, r.Notes)
			}
			for _, n := range c.expect.Checkers {
				r, ok := results[n]
				if !ok {
					t.Fatalf("expectation names checker %q, which does not exist", n)
				}
				if r.Verdict != c.expect.Verdict {
					t.Errorf("%s says %s, want %s (%s)", n, r.Verdict, c.expect.Verdict, c.expect.About)
				}
				if c.expect.Anomaly != "" && !r.Has(c.expect.Anomaly) {
					t.Errorf("%s reports %v, not %s", n, r.AnomalyKinds(), c.expect.Anomaly)
				}
			}
			overall := Combine(rs)
			switch c.expect.Verdict {
			case Invalid:
				if overall != Invalid {
					t.Errorf("overall %s, want invalid", overall)
				}
			default:
				for _, n := range names {
					if results[n].Verdict == Invalid {
						t.Errorf("%s calls a %s history invalid: %v", n, c.expect.Verdict, results[n].Examples)
					}
				}
			}
		})
	}
	if verdicts[Valid] == 0 || verdicts[Invalid] == 0 || verdicts[Unknown] == 0 {
		t.Errorf("the corpus needs histories of every verdict, has %v", verdicts)
	}
}
