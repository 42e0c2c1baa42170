package sim

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Options configures Run.
type Options struct {
	// Seeds are the random seeds; every strategy of every scenario runs once per seed.
	// Report medians need at least 8.
	Seeds []uint64
	// Out is the folder for the PNG charts; empty writes none.
	Out string
	// Parallel is how many runs go at once; zero means GOMAXPROCS. Runs are
	// independent and deterministic, so it changes the wall time only.
	Parallel int
	// Progress, when set, gets one line per finished run.
	Progress io.Writer
}

// Seeds returns the seeds 1..n.
func Seeds(n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}

// Report is the outcome of Run.
type Report struct {
	Seeds     []uint64
	Scenarios []*ScenarioReport
}

// ScenarioReport holds one scenario's runs, medians and target checks.
type ScenarioReport struct {
	Scenario *Scenario
	// Runs holds each strategy's results, in seed order.
	Runs map[string][]Result
	// Median holds, per strategy, the median over seeds of every metric.
	Median map[string]Result
	// Checks are the scenario's targets against the medians.
	Checks []Check
	// Charts are the PNG files written.
	Charts []string
}

type job struct {
	sc   *Scenario
	st   *Strategy
	seed uint64
	si   int // scenario index
	ri   int // index into the strategy's runs
}

// Run runs every strategy of every scenario with every seed, on a virtual clock, and
// checks the targets. It stops at the first failing run.
func Run(ctx context.Context, scenarios []*Scenario, o Options) (*Report, error) {
	if len(o.Seeds) == 0 {
		return nil, fmt.Errorf("sim: no seeds")
	}
	rep := &Report{Seeds: o.Seeds}
	var jobs []job
	for si, sc := range scenarios {
		sr := &ScenarioReport{Scenario: sc, Runs: map[string][]Result{}, Median: map[string]Result{}}
		rep.Scenarios = append(rep.Scenarios, sr)
		for i := range sc.Strategies {
			st := &sc.Strategies[i]
			sr.Runs[st.Name] = make([]Result, len(o.Seeds))
			for ri, seed := range o.Seeds {
				jobs = append(jobs, job{sc: sc, st: st, seed: seed, si: si, ri: ri})
			}
		}
	}
	par := o.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		done     int
		wg       sync.WaitGroup
		next     = make(chan job)
	)
	began := time.Now()
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				t0 := time.Now()
				res, err := runOne(j.sc, j.st, j.seed)
				mu.Lock()
				done++
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				rep.Scenarios[j.si].Runs[j.st.Name][j.ri] = res
				if o.Progress != nil && err == nil {
					fmt.Fprintf(o.Progress, "[%3d/%d %5.1fs] %s / %s / seed %d: makespan %s (%.2fs)\n",
						done, len(jobs), time.Since(began).Seconds(), j.sc.Name, j.st.Name, j.seed,
						fmtDur(res.Makespan), time.Since(t0).Seconds())
				}
				mu.Unlock()
			}
		}()
	}
	// Long runs first, so the last ones to finish are short.
	order := slices.Clone(jobs)
	slices.SortStableFunc(order, func(a, b job) int { return cost(b.sc) - cost(a.sc) })
feed:
	for _, j := range order {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, sr := range rep.Scenarios {
		for _, st := range sr.Scenario.Strategies {
			sr.Median[st.Name] = median(sr.Runs[st.Name])
		}
		sr.Checks = checkTargets(sr)
		if o.Out != "" {
			files, err := writeCharts(o.Out, sr)
			if err != nil {
				return nil, err
			}
			sr.Charts = files
		}
	}
	return rep, nil
}

// cost is a rough weight of a scenario's runs, to start the heavy ones first.
func cost(sc *Scenario) int {
	if sc.Pool != nil {
		return int(sc.Pool.Users / 1_000_000)
	}
	return 1
}

func runOne(sc *Scenario, st *Strategy, seed uint64) (Result, error) {
	if sc.Channel != nil {
		return runChannel(sc, st, seed)
	}
	return runPool(sc, st, seed)
}

// median returns a Result whose every metric is the median over runs (the mean of the
// two middle values for an even count). PerMinute is that of the run with the median
// makespan.
func median(runs []Result) Result {
	if len(runs) == 0 {
		return Result{}
	}
	dur := func(f func(Result) time.Duration) time.Duration {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = float64(f(r))
		}
		return time.Duration(medianOf(v))
	}
	num := func(f func(Result) int64) int64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = float64(f(r))
		}
		return int64(medianOf(v) + 0.5)
	}
	m := Result{Scenario: runs[0].Scenario, Strategy: runs[0].Strategy}
	m.Makespan = dur(func(r Result) time.Duration { return r.Makespan })
	m.Drain = dur(func(r Result) time.Duration { return r.Drain })
	m.Last5 = dur(func(r Result) time.Duration { return r.Last5 })
	m.Overload = dur(func(r Result) time.Duration { return r.Overload })
	m.Ideal = dur(func(r Result) time.Duration { return r.Ideal })
	m.Failed = num(func(r Result) int64 { return r.Failed })
	m.DeadLettered = num(func(r Result) int64 { return r.DeadLettered })
	m.BeyondWindow = num(func(r Result) int64 { return r.BeyondWindow })
	m.Slices = num(func(r Result) int64 { return r.Slices })
	m.Splits = num(func(r Result) int64 { return r.Splits })
	m.Twice = num(func(r Result) int64 { return r.Twice })
	m.PerMinute = representative(runs).PerMinute
	return m
}

// representative returns the run whose makespan is nearest the median, the lowest
// seed on a tie.
func representative(runs []Result) Result {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = float64(r.Makespan)
	}
	med := medianOf(v)
	best := 0
	for i, r := range runs {
		d, bd := abs(float64(r.Makespan)-med), abs(float64(runs[best].Makespan)-med)
		if d < bd || (d == bd && r.Seed < runs[best].Seed) {
			best = i
		}
	}
	return runs[best]
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
