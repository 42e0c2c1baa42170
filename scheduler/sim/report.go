package sim

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Check is one target of a scenario against the measurement.
type Check struct {
	Name   string
	Want   string
	Actual string
	Met    bool
}

// checkTargets checks sr's targets. Ratios and times use the medians over seeds;
// targets of zero (dead letters, dispatches beyond the window, non-fenced duplicates)
// must hold for every seed.
func checkTargets(sr *ScenarioReport) []Check {
	sc, t := sr.Scenario, sr.Scenario.Targets
	base, cand := sr.Median[sc.Baseline], sr.Median[sc.Candidate]
	bn, cn := sc.Baseline, sc.Candidate
	var out []Check
	ratio := func(name string, b, c time.Duration, want float64) {
		r := float64(b) / float64(c)
		out = append(out, Check{name, fmt.Sprintf(">= %.2f", want), fmt.Sprintf("%.2f (%s / %s)", r, fmtDur(b), fmtDur(c)), r >= want})
	}
	worst := func(f func(Result) int64) int64 {
		var m int64
		for _, r := range sr.Runs[cn] {
			m = max(m, f(r))
		}
		return m
	}
	if t.MakespanRatio > 0 {
		ratio(fmt.Sprintf("makespan %s / %s", bn, cn), base.Makespan, cand.Makespan, t.MakespanRatio)
	}
	if t.DeadLettered != nil {
		w := worst(func(r Result) int64 { return r.DeadLettered })
		out = append(out, Check{"dead-lettered, " + cn + ", every seed", fmt.Sprintf("<= %d", *t.DeadLettered),
			fmt.Sprintf("median %d, worst seed %d", cand.DeadLettered, w), w <= *t.DeadLettered})
	}
	if f := t.FailedVs; f != nil {
		other := sr.Median[f.Of]
		share := float64(cand.Failed) / math.Max(1, float64(other.Failed))
		out = append(out, Check{fmt.Sprintf("failed calls %s / %s", cn, f.Of), fmt.Sprintf("<= %.0f %%", 100*f.Share),
			fmt.Sprintf("%.2f %% (%d / %d)", 100*share, cand.Failed, other.Failed), share <= f.Share})
	}
	if t.OverloadMinutes > 0 {
		m := cand.Overload.Minutes()
		out = append(out, Check{"overload (n > K), " + cn, fmt.Sprintf("< %.0f min", t.OverloadMinutes),
			fmt.Sprintf("%.2f min", m), m < t.OverloadMinutes})
	}
	if s := t.WindowRespected; s != nil {
		w := worst(func(r Result) int64 { return r.BeyondWindow })
		out = append(out, Check{fmt.Sprintf("dispatches beyond the window %s-%s, %s, every seed", s.From, s.To, cn), "0",
			fmt.Sprintf("%d", w), w == 0})
	}
	if t.DrainRatio > 0 {
		ratio(fmt.Sprintf("drain %s / %s", bn, cn), base.Drain, cand.Drain, t.DrainRatio)
	}
	if t.Last5Ratio > 0 {
		ratio(fmt.Sprintf("last-5 %% %s / %s", bn, cn), base.Last5, cand.Last5, t.Last5Ratio)
	}
	if t.MakespanOverIdeal > 0 {
		r := float64(cand.Makespan) / float64(cand.Ideal)
		out = append(out, Check{"makespan " + cn + " / ideal", fmt.Sprintf("<= %.2f", t.MakespanOverIdeal),
			fmt.Sprintf("%.3f (%s / %s)", r, fmtDur(cand.Makespan), fmtDur(cand.Ideal)), r <= t.MakespanOverIdeal})
	}
	if t.SlicesRatio > 0 {
		r := float64(cand.Slices) / math.Max(1, float64(base.Slices))
		out = append(out, Check{fmt.Sprintf("slices %s / %s", cn, bn), fmt.Sprintf("<= %.1f", t.SlicesRatio),
			fmt.Sprintf("%.2f (%d / %d)", r, cand.Slices, base.Slices), r <= t.SlicesRatio})
	}
	if t.DrainMax > 0 {
		var w time.Duration
		for _, r := range sr.Runs[cn] {
			w = max(w, r.Drain)
		}
		out = append(out, Check{"drain " + cn, "< " + fmtDur(t.DrainMax),
			fmt.Sprintf("median %s, worst seed %s", fmtDur(cand.Drain), fmtDur(w)), cand.Drain < t.DrainMax})
	}
	if t.TwiceOnlyFenced {
		w := worst(func(r Result) int64 { return r.TwiceUnfenced })
		fw := worst(func(r Result) int64 { return r.Twice })
		out = append(out, Check{"users processed twice, " + cn + ", every seed: only after a fenced execution, and counted",
			"0 unfenced",
			fmt.Sprintf("unfenced: worst seed %d; after a fenced execution (a departed machine's users past its last checkpoint, redone): median %d, worst seed %d",
				w, cand.Twice, fw), w == 0})
	}
	return out
}

// Headline returns the ratios of the last line: baseline ÷ candidate makespan of the
// first scenario whose headline is "makespan", and drain of the first whose headline is
// "drain"; NaN when there is none.
func (r *Report) Headline() (makespan, drain float64) {
	makespan, drain = math.NaN(), math.NaN()
	for _, sr := range r.Scenarios {
		sc := sr.Scenario
		b, c := sr.Median[sc.Baseline], sr.Median[sc.Candidate]
		switch {
		case sc.Headline == "makespan" && math.IsNaN(makespan):
			makespan = float64(b.Makespan) / float64(c.Makespan)
		case sc.Headline == "drain" && math.IsNaN(drain):
			drain = float64(b.Drain) / float64(c.Drain)
		}
	}
	return makespan, drain
}

// Write prints a table and the target checks per scenario, the charts written, and as
// the very last line the headline ratios.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	seeds := make([]string, len(r.Seeds))
	for i, s := range r.Seeds {
		seeds[i] = fmt.Sprint(s)
	}
	fmt.Fprintf(&b, "seeds: %s (every figure is the median over these seeds)\n", strings.Join(seeds, " "))
	met, total := 0, 0
	for _, sr := range r.Scenarios {
		sc := sr.Scenario
		fmt.Fprintf(&b, "\n== %s: %s\n", sc.Name, sc.Title)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		head := "strategy\tmakespan\tdrain\tlast-5 %\tfailed\tdead-lettered\toverload min\tslices"
		if sc.Channel != nil && sc.Targets.WindowRespected != nil {
			head += "\tbeyond window"
		}
		if sc.Pool != nil {
			head += "\tideal\ttail splits\tprocessed twice"
		}
		fmt.Fprintln(tw, head)
		for _, st := range sc.Strategies {
			m := sr.Median[st.Name]
			row := fmt.Sprintf("%s\t%s\t%s\t%s", st.Name, fmtDur(m.Makespan), fmtDur(m.Drain), fmtDur(m.Last5))
			if sc.Channel != nil {
				row += fmt.Sprintf("\t%d\t%d\t%.2f\t-", m.Failed, m.DeadLettered, m.Overload.Minutes())
				if sc.Targets.WindowRespected != nil {
					row += fmt.Sprintf("\t%d", m.BeyondWindow)
				}
			} else {
				row += fmt.Sprintf("\t-\t-\t-\t%d\t%s\t%d\t%d", m.Slices, fmtDur(m.Ideal), m.Splits, m.Twice)
			}
			fmt.Fprintln(tw, row)
		}
		tw.Flush()
		if len(sr.Checks) > 0 {
			fmt.Fprintln(&b)
			tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "target\twant\tactual\t")
			for _, c := range sr.Checks {
				status := "MISSED"
				if c.Met {
					status = "met"
					met++
				}
				total++
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Want, c.Actual, status)
			}
			tw.Flush()
		}
		for _, f := range sr.Charts {
			fmt.Fprintf(&b, "chart: %s\n", f)
		}
	}
	fmt.Fprintf(&b, "\ntargets met: %d of %d\n", met, total)
	ms, dr := r.Headline()
	fmt.Fprintf(&b, "makespan ratio: %s  drain ratio: %s\n", fmtRatio(ms), fmtRatio(dr))
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x)
}

// fmtDur prints a duration to the second ("1h02m03s", "4m05s", "12.3s").
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm%02ds", int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second))
}
