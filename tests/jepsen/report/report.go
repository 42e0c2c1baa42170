// Package report writes the folder of a fault-test run: the history, the
// nemesis timeline, the checkers' verdicts with their first counter-examples,
// latency and throughput plots with the fault windows shaded, and a summary
// table whose last line is "valid: true", "valid: false" or "valid: unknown".
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Run is everything a report says about one run.
type Run struct {
	Seed      int64    `json:"seed"`
	Command   string   `json:"command"`
	Workloads []string `json:"workloads"`
	Nemeses   []string `json:"nemeses"`
	Inject    string   `json:"inject,omitempty"`
	// Backend names the backend that ran the cluster when it is not the
	// local processes ("docker": docker-compose.yml's containers).
	Backend string `json:"backend,omitempty"`
	// Insecure is set when the cluster ran open (--insecure); a run is on
	// a secure cluster (TLS, node certificates, tokens) otherwise.
	Insecure bool `json:"insecure,omitempty"`
	Nodes    int  `json:"nodes"`
	// Zones is the number of zones, 0 for a single standalone zone.
	Zones int `json:"zones,omitempty"`
	// ClockZone is the zone run with --inject clock-rate=ClockRate.
	ClockZone string  `json:"clock_zone,omitempty"`
	ClockRate float64 `json:"clock_rate,omitempty"`
	Duration  string  `json:"duration"`
	// Plan is the nemesis schedule drawn from the seed, one line a step.
	Plan []string `json:"plan"`
	// Faults counts faults applied (and failed) by kind.
	Faults  map[string]int    `json:"faults"`
	Failed  map[string]int    `json:"faults_failed,omitempty"`
	Notes   []string          `json:"notes,omitempty"`
	Results []*checker.Result `json:"results"`
	// Verdict is the run's verdict: unknown when a checker checked
	// nothing or a requested fault never happened. Valid is Verdict ==
	// checker.Valid.
	Verdict checker.Verdict `json:"verdict"`
	Valid   bool            `json:"valid"`

	Ops []history.Op `json:"-"`
}

// Stats counts a history's client operations by outcome.
type Stats struct {
	Invoked, OK, Fail, Info int
}

// Count tallies ops.
func Count(ops []history.Op) Stats {
	var s Stats
	for _, p := range history.Pairs(ops) {
		s.Invoked++
		switch p.Type() {
		case history.OK:
			s.OK++
		case history.Fail:
			s.Fail++
		default:
			s.Info++
		}
	}
	return s
}

// Write saves the run's folder files into dir (history.jsonl is written by
// the recorder during the run, or here when missing): results.json,
// nemesis.txt, latency.png, throughput.png and summary.txt.
func Write(dir string, r *Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "history.jsonl")); err != nil {
		f, err := os.Create(filepath.Join(dir, "history.jsonl"))
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		werr := history.Write(f, r.Ops)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("report: %w", werr)
		}
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var tl strings.Builder
	Timeline(&tl, r)
	if err := os.WriteFile(filepath.Join(dir, "nemesis.txt"), []byte(tl.String()), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	title := fmt.Sprintf("rzone %s under %s (seed %d)", strings.Join(r.Workloads, "+"), nemesesOrNone(r.Nemeses), r.Seed)
	if err := LatencyPlot(filepath.Join(dir, "latency.png"), title, r.Ops); err != nil {
		return err
	}
	if err := ThroughputPlot(filepath.Join(dir, "throughput.png"), title, r.Ops, 1); err != nil {
		return err
	}
	var sum strings.Builder
	Summary(&sum, r)
	return os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(sum.String()), 0o644)
}

func nemesesOrNone(ns []string) string {
	if len(ns) == 0 {
		return "no faults"
	}
	return strings.Join(ns, "+")
}

// Timeline writes the planned steps and the faults as applied.
func Timeline(w io.Writer, r *Run) {
	fmt.Fprintf(w, "seed %d\nplan:\n", r.Seed)
	for _, s := range r.Plan {
		fmt.Fprintf(w, "  %s\n", s)
	}
	fmt.Fprintln(w, "applied:")
	steps := map[int][]history.Op{}
	for _, op := range r.Ops {
		if op.Process == history.NemesisProcess && op.F == history.FFaultStep {
			steps[op.FaultID] = append(steps[op.FaultID], op)
		}
	}
	for _, win := range history.Windows(r.Ops) {
		fmt.Fprintf(w, "  #%d %-9s %-6s %7.2fs → %7.2fs", win.ID, win.Fault, strings.Join(win.Targets, ","), secs(win.Start), secs(win.End))
		if win.Error != "" {
			fmt.Fprintf(w, "  error: %s", win.Error)
		}
		if win.HealError != "" {
			fmt.Fprintf(w, "  heal error: %s", win.HealError)
		}
		fmt.Fprintln(w)
		for _, st := range steps[win.ID] {
			fmt.Fprintf(w, "      %-9s zone %s %7.2fs → %7.2fs", st.Step, st.Zone, secs(st.StepStart), secs(st.Time))
			if st.Message != "" {
				fmt.Fprintf(w, "  %s", st.Message)
			}
			if st.Error != "" {
				fmt.Fprintf(w, "  error: %s", st.Error)
			}
			fmt.Fprintln(w)
		}
	}
}

// Summary writes the table printed at the end of a run. Its last line is
// "valid: true", "valid: false" or "valid: unknown".
func Summary(w io.Writer, r *Run) {
	st := Count(r.Ops)
	zones := ""
	if r.Zones > 0 {
		zones = fmt.Sprintf(" in %d zones", r.Zones)
	}
	fmt.Fprintf(w, "rzone fault test: workloads %s, nemeses %s, %d nodes%s, %s, seed %d",
		strings.Join(r.Workloads, ","), nemesesOrNone(r.Nemeses), r.Nodes, zones, r.Duration, r.Seed)
	if r.Backend != "" {
		fmt.Fprintf(w, ", on %s", r.Backend)
	}
	if r.Insecure {
		fmt.Fprintf(w, ", open cluster (--insecure)")
	} else {
		fmt.Fprintf(w, ", secure cluster (TLS, node certificates, tokens)")
	}
	if r.Inject != "" {
		fmt.Fprintf(w, ", injected fault %s", r.Inject)
	}
	if r.ClockZone != "" {
		fmt.Fprintf(w, ", zone %s's clock at rate %g", r.ClockZone, r.ClockRate)
	}
	fmt.Fprintf(w, "\noperations: %d (ok %d, fail %d, info %d)\n", st.Invoked, st.OK, st.Fail, st.Info)
	fmt.Fprintf(w, "faults applied: %s\n", faultSummary(r.Faults, r.Failed))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECKER\tVERDICT\tCHECKED\tANOMALIES")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Checker, res.Verdict, kv(res.Stats), kv(res.Anomalies))
	}
	tw.Flush()
	for _, res := range r.Results {
		for _, e := range res.Examples {
			fmt.Fprintf(w, "  %s: %s\n", res.Checker, e)
		}
		for _, u := range res.Unchecked {
			fmt.Fprintf(w, "  %s: unknown: %s\n", res.Checker, u)
		}
		for _, n := range res.Notes {
			fmt.Fprintf(w, "  %s: note: %s\n", res.Checker, n)
		}
	}
	fmt.Fprintf(w, "valid: %s\n", validLine(r))
}

// validLine is the summary's verdict: true, false or unknown.
func validLine(r *Run) string {
	switch {
	case r.Valid:
		return "true"
	case r.Verdict == checker.Unknown:
		return "unknown"
	default:
		return "false"
	}
}

func faultSummary(applied, failed map[string]int) string {
	var ks []string
	for k := range applied {
		ks = append(ks, k)
	}
	for k := range failed {
		if _, ok := applied[k]; !ok {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return "none"
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		s := fmt.Sprintf("%s=%d", k, applied[k])
		if failed[k] > 0 {
			s += fmt.Sprintf(" (%d failed)", failed[k])
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func kv(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// Elapsed formats a duration for the report.
func Elapsed(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
