package report

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Colors of outcomes and faults, as Jepsen draws them.
var (
	outcomeColors = map[history.Type]color.NRGBA{
		history.OK:   {R: 0x31, G: 0x9b, B: 0x3f, A: 0xff},
		history.Fail: {R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		history.Info: {R: 0xf0, G: 0x9c, B: 0x00, A: 0xff},
	}
	faultColors = map[string]color.NRGBA{
		"kill":      {R: 0xe4, G: 0x1a, B: 0x1c, A: 0x30},
		"pause":     {R: 0xff, G: 0xc0, B: 0x00, A: 0x40},
		"partition": {R: 0x37, G: 0x7e, B: 0xb8, A: 0x30},
	}
	otherFault = color.NRGBA{R: 0x80, G: 0x80, B: 0x80, A: 0x30}
)

func faultColor(kind string) color.NRGBA {
	if c, ok := faultColors[kind]; ok {
		return c
	}
	return otherFault
}

// shade fills one fault window over the plot's whole height. It has no
// data range, so it never changes the axes.
type shade struct {
	x0, x1 float64
	color  color.Color
}

func (s shade) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	x0, x1 := trX(s.x0), trX(s.x1)
	y0, y1 := trY(p.Y.Min), trY(p.Y.Max)
	c.FillPolygon(s.color, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
}

func (s shade) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.color, []vg.Point{
		{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y},
	})
}

// addWindows shades every fault window and names each kind once in the
// legend.
func addWindows(p *plot.Plot, ws []history.Window) {
	named := map[string]bool{}
	for _, w := range ws {
		s := shade{x0: secs(w.Start), x1: secs(w.End), color: faultColor(w.Fault)}
		p.Add(s)
		if !named[w.Fault] {
			named[w.Fault] = true
			p.Legend.Add(w.Fault, s)
		}
	}
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }

// operationKind names an operation for the plots: "pay", "read stale", ...
func operationKind(op history.Op) string {
	if op.F == history.FRead && op.Stale {
		return "read (stale)"
	}
	return op.F
}

// LatencyPlot draws every completed client operation as a point at (its
// invoke time, its latency), coloured by outcome, on a log scale, with fault
// windows shaded, and saves it as a PNG.
func LatencyPlot(path, title string, ops []history.Op) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = latencyTicks{}
	p.Legend.Top = true
	points := map[history.Type]plotter.XYs{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, pr := range history.Pairs(ops) {
		if pr.Complete == nil || pr.Invoke.F == history.FPut {
			continue
		}
		ms := math.Max(float64(pr.Latency())/1e6, 0.01)
		t := pr.Complete.Type
		points[t] = append(points[t], plotter.XY{X: secs(pr.Invoke.Time), Y: ms})
		lo, hi = math.Min(lo, ms), math.Max(hi, ms)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0.1, 1000
	}
	p.Y.Min, p.Y.Max = lo/1.5, hi*1.5
	addWindows(p, history.Windows(ops))
	for _, t := range []history.Type{history.OK, history.Info, history.Fail} {
		xys := points[t]
		if len(xys) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("latency plot: %w", err)
		}
		sc.GlyphStyle.Color = outcomeColors[t]
		sc.GlyphStyle.Radius = vg.Points(1.2)
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("%s (%d)", t, len(xys)), sc)
	}
	return p.Save(12*vg.Inch, 5*vg.Inch, path)
}

// ThroughputPlot draws completions per second by outcome, in buckets of
// bucket seconds, with fault windows shaded, and saves it as a PNG.
func ThroughputPlot(path, title string, ops []history.Op, bucket float64) error {
	if bucket <= 0 {
		bucket = 1
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "operations / s"
	p.Legend.Top = true
	counts := map[history.Type]map[int]float64{}
	last := 0
	for _, pr := range history.Pairs(ops) {
		if pr.Complete == nil || pr.Invoke.F == history.FPut {
			continue
		}
		b := int(secs(pr.Complete.Time) / bucket)
		if counts[pr.Complete.Type] == nil {
			counts[pr.Complete.Type] = map[int]float64{}
		}
		counts[pr.Complete.Type][b]++
		last = max(last, b)
	}
	var peak float64
	lines := map[history.Type]plotter.XYs{}
	for t, m := range counts {
		var xys plotter.XYs
		for b := 0; b <= last; b++ {
			v := m[b] / bucket
			peak = math.Max(peak, v)
			xys = append(xys, plotter.XY{X: (float64(b) + 0.5) * bucket, Y: v})
		}
		lines[t] = xys
	}
	p.Y.Min, p.Y.Max = 0, math.Max(peak*1.1, 1)
	addWindows(p, history.Windows(ops))
	types := make([]history.Type, 0, len(lines))
	for t := range lines {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] > types[j] })
	for _, t := range types {
		l, err := plotter.NewLine(lines[t])
		if err != nil {
			return fmt.Errorf("throughput plot: %w", err)
		}
		l.LineStyle.Color = outcomeColors[t]
		l.LineStyle.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(string(t), l)
	}
	return p.Save(12*vg.Inch, 4*vg.Inch, path)
}

// latencyTicks labels 1, 2 and 5 times each power of ten on a log axis.
type latencyTicks struct{}

func (latencyTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return ts
}
