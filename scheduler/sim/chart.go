package sim

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

var palette = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// writeCharts writes one PNG per scenario to dir: users (calls) done per minute over
// time, one line per strategy, all from the same seed: the one whose run of the
// candidate (else the first strategy) has the median makespan.
func writeCharts(dir string, sr *ScenarioReport) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("chart folder: %w", err)
	}
	sc := sr.Scenario
	p := plot.New()
	unit := "users"
	if sc.Channel != nil {
		unit = "calls"
	}
	seed := chartSeed(sr)
	p.Title.Text = fmt.Sprintf("%s: %s done per minute (seed %d, the median run of %s)", sc.Name, unit, seed, chartStrategy(sc))
	p.X.Label.Text = "minutes from start"
	p.Y.Label.Text = unit + " per minute"
	p.Legend.Top = true
	for i, st := range sc.Strategies {
		var run Result
		for _, r := range sr.Runs[st.Name] {
			if r.Seed == seed {
				run = r
			}
		}
		pts := make(plotter.XYs, len(run.PerMinute))
		for m, v := range run.PerMinute {
			pts[m] = plotter.XY{X: float64(m), Y: v}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", sc.Name, err)
		}
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.2)
		p.Add(line)
		p.Legend.Add(st.Name, line)
	}
	file := filepath.Join(dir, slug(sc.Name)+".png")
	if err := p.Save(10*vg.Inch, 4*vg.Inch, file); err != nil {
		return nil, fmt.Errorf("chart %s: %w", sc.Name, err)
	}
	return []string{file}, nil
}

func slug(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

func chartStrategy(sc *Scenario) string {
	if sc.Candidate != "" {
		return sc.Candidate
	}
	return sc.Strategies[0].Name
}

// chartSeed returns the seed of the median-makespan run of the chart's strategy.
func chartSeed(sr *ScenarioReport) uint64 {
	return representative(sr.Runs[chartStrategy(sr.Scenario)]).Seed
}
