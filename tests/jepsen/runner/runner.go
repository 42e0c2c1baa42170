// Package runner runs one fault test end to end: it starts a zone (or a
// multi-zone cluster) of real rzone processes, or docker-compose.yml's
// containers (backend.go, docker.go), sets up the workloads, runs their
// workers beside a seeded nemesis, heals and lets the cluster converge,
// takes the final reads, checks the history and writes the run's report
// folder. The command ./tests/jepsen and the scenario tests share it.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/history"
	"github.com/rzonedb/rzone/tests/jepsen/nemesis"
	"github.com/rzonedb/rzone/tests/jepsen/report"
	"github.com/rzonedb/rzone/tests/jepsen/workload"
)

// ErrInjectUnsupported is returned when Config.Inject is set and the rzone
// binary has no --inject flag.
var ErrInjectUnsupported = errors.New("runner: rzone server has no --inject flag")

// Config describes one run.
type Config struct {
	// Backend runs the cluster: BackendLocal (the default, "" too) or
	// BackendDocker (docker-compose.yml's 3 zones × 3 nodes; Zones and
	// NodesPerZone must be 3 or zero, and only the nemeses kill, pause,
	// partition, kill-zone and restart-all).
	Backend string
	// Workloads to run together: payments, register, bank; or sched,
	// alone and with Zones.
	Workloads []string
	// Nemeses are the fault kinds (nemesis.Kinds). Empty runs without
	// faults. With nemesis.Failover the runner turns automatic failover on
	// (FailoverAfter) and the failover checker runs.
	Nemeses []string
	// Time is how long the workers invoke operations.
	Time time.Duration
	// Out is the run folder; it is created.
	Out string
	// Seed drives every random choice.
	Seed int64
	// Nodes is the zone's size. Zero means 3. Ignored with Zones.
	Nodes int
	// Zones, when above zero, runs a multi-zone cluster of that many zones
	// (named A, B, C, …) of NodesPerZone nodes each; the workloads' users
	// spread over every zone, and the lease checker runs.
	Zones int
	// NodesPerZone is the size of each zone with Zones. Zero means 3.
	NodesPerZone int
	// ClockRate, when above zero, runs the nodes of one zone (chosen by the
	// seed) with --inject clock-rate=ClockRate (a faultinject build), and
	// every partition-zone fault cuts that zone off. Needs Zones.
	ClockRate float64
	// LeaseDuration is the servers' ownership lease, which the lease
	// checker assumes. Zero means 3s, the server's default.
	LeaseDuration time.Duration
	// FailoverAfter is the failover.auto_after the runner sets when the
	// failover nemesis runs: the meta leader fails a zone over once its
	// lease has been expired that long. Zero means 500ms.
	FailoverAfter time.Duration
	// LoadWorkers is how many extra payment workers the failover nemesis
	// aims at a zone's users for the second before and two after it
	// kills the zone (needs the payments workload). Zero means 8; below
	// zero, none.
	LoadWorkers int
	// PauseAutoDuringRecover switches automatic failover off from the
	// nemesis's recover until the zone is ready again. Off by default: a
	// just-reconciled zone must not be failed over again (the server gives
	// it a lease grace, and automatic failover needs its nodes to be
	// unreachable); the checker flags it if it is.
	PauseAutoDuringRecover bool
	// BackupLag is how long the failover nemesis cuts the lost zone off
	// from its backup zone before the kill, so that the zone dies with
	// writes its backup's replica has not applied. Zero means 1s; below
	// zero, no cut. Without partitions (iptables) there is no cut, and the
	// report says so.
	BackupLag time.Duration
	// Concurrency is the number of workers per workload. Zero means 3.
	Concurrency int
	// Interval is the time between fault starts; zero means 10s.
	Interval time.Duration
	// FaultDuration is how long each fault lasts; zero means 3s.
	FaultDuration time.Duration
	// Inject names a deliberate server bug; the binary is then built with
	// -tags faultinject and each node gets --inject NAME.
	Inject string
	// Binary is a prebuilt rzone binary; empty builds ./cmd/rzone.
	Binary string
	// CheckTimeout bounds Porcupine per account. Zero means 30s.
	CheckTimeout time.Duration
	// RequestTimeout bounds each client attempt. Zero means 4s.
	RequestTimeout time.Duration
	// SettleTimeout bounds the wait, after the faults are healed, for the
	// zone to converge and go quiet before the final reads; past it the
	// reads go ahead and the report notes it. Zero means 60s.
	SettleTimeout time.Duration
	// Insecure runs the local cluster open (--insecure: plain HTTP, no
	// tokens). The default is a secure cluster, as rzone runs in
	// production; the docker backend is always secure.
	Insecure bool
	// Stdout receives the summary table; nil discards it.
	Stdout io.Writer
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
}

func (c *Config) defaults() error {
	if len(c.Workloads) == 0 {
		return errors.New("runner: no workload")
	}
	for _, w := range c.Workloads {
		if !slices.Contains(workload.Names, w) {
			return fmt.Errorf("runner: unknown workload %q (want some of %s)", w, strings.Join(workload.Names, ","))
		}
	}
	if slices.Contains(c.Workloads, "sched") {
		if len(c.Workloads) > 1 {
			return errors.New("runner: the sched workload runs alone: its runs reach every user with a bill, and its auto-debits would repay the other workloads' accounts")
		}
		if c.Zones == 0 {
			return errors.New("runner: the sched workload needs Zones (--zones 3): the scheduler runs in the meta group of a multi-zone cluster")
		}
	}
	if c.Time <= 0 {
		return errors.New("runner: Time must be positive")
	}
	if c.Out == "" {
		return errors.New("runner: Out is required")
	}
	switch c.Backend {
	case "", BackendLocal:
		c.Backend = BackendLocal
	case BackendDocker:
		if c.Insecure {
			return errors.New("runner: the docker backend runs docker-compose.yml, which is always secure; drop Insecure (--insecure)")
		}
		if err := c.checkDocker(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("runner: unknown backend %q (want %s or %s)", c.Backend, BackendLocal, BackendDocker)
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Zones < 0 || c.Zones > 26 {
		return fmt.Errorf("runner: Zones %d: want 0 to 26", c.Zones)
	}
	if c.Zones > 0 && c.NodesPerZone == 0 {
		c.NodesPerZone = 3
	}
	if c.Zones > 0 {
		c.Nodes = c.Zones * c.NodesPerZone
	}
	if c.ClockRate < 0 || (c.ClockRate > 0 && c.Zones == 0) {
		return errors.New("runner: ClockRate needs Zones and must be positive")
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 3 * time.Second
	}
	if c.FailoverAfter == 0 {
		c.FailoverAfter = 500 * time.Millisecond
	}
	if c.BackupLag == 0 {
		c.BackupLag = time.Second
	}
	if c.LoadWorkers == 0 {
		c.LoadWorkers = 8
	}
	if c.Concurrency == 0 {
		c.Concurrency = 3
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 30 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 4 * time.Second
	}
	if c.SettleTimeout == 0 {
		c.SettleTimeout = 60 * time.Second
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// Run performs the run and returns its report (also written to cfg.Out).
// An error means the run could not be carried out (no cluster, no binary);
// an invalid history is not an error, it is Run.Verdict == checker.Invalid
// (checker.Unknown when the run checked nothing or a requested fault never
// happened).
func Run(ctx context.Context, cfg Config) (*report.Run, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	rep := &report.Run{
		Seed: cfg.Seed, Workloads: cfg.Workloads, Nemeses: slices.Clone(cfg.Nemeses), Inject: cfg.Inject,
		Nodes: cfg.Nodes, Zones: cfg.Zones, Duration: cfg.Time.String(), Command: strings.Join(os.Args, " "),
	}
	if cfg.Backend != BackendLocal {
		rep.Backend = cfg.Backend
	}
	rep.Insecure = cfg.Insecure
	zones := zoneNames(cfg.Zones)
	if cfg.ClockRate > 0 {
		rep.ClockZone = zones[int(uint64(cfg.Seed)%uint64(len(zones)))]
		rep.ClockRate = cfg.ClockRate
	}
	if cfg.Zones == 0 {
		if slices.ContainsFunc(rep.Nemeses, func(k string) bool { return slices.Contains(nemesis.ZoneKinds, k) }) {
			note := fmt.Sprintf("zone nemeses %v skipped: the cluster has one zone (use Zones)", nemesis.ZoneKinds)
			cfg.Logf("%s", note)
			rep.Notes = append(rep.Notes, note)
			rep.Nemeses = slices.DeleteFunc(rep.Nemeses, func(k string) bool { return slices.Contains(nemesis.ZoneKinds, k) })
		}
	}
	var wls []workload.Workload
	var serverArgs []string
	for _, name := range cfg.Workloads {
		w, err := workload.New(name)
		if err != nil {
			return nil, err
		}
		wls = append(wls, w)
		if sc, ok := w.(workload.ServerConfigurer); ok {
			serverArgs = append(serverArgs, sc.ServerArgs()...)
		}
	}
	c, err := startTarget(ctx, cfg, zones, rep.ClockZone, serverArgs)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.CanPartition(); err != nil {
		for _, k := range []string{nemesis.Partition, nemesis.Lossy, nemesis.PartitionZone} {
			if slices.Contains(rep.Nemeses, k) {
				note := fmt.Sprintf("%s nemesis skipped: %v", k, err)
				cfg.Logf("%s", note)
				rep.Notes = append(rep.Notes, note)
				rep.Nemeses = slices.DeleteFunc(rep.Nemeses, func(s string) bool { return s == k })
			}
		}
	}

	hf, err := os.Create(filepath.Join(cfg.Out, "history.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	defer hf.Close()
	rec := history.NewRecorder(hf)
	env := &workload.Env{Rec: rec, Seed: cfg.Seed, Logf: cfg.Logf, ClientOptions: c.Security().ClientOptions()}
	env.Nodes = c.Nodes()
	if c.MultiZone() {
		zoneOf, err := shardZones(ctx, c)
		if err != nil {
			return nil, err
		}
		env.ZoneOf = zoneOf
	}
	if l, ok := c.(local); ok && l.replies != nil {
		l.replies.zoneOf = env.ZoneOf
	}
	autoFailover := slices.Contains(rep.Nemeses, nemesis.Failover)
	failoverRun := slices.ContainsFunc(rep.Nemeses, func(k string) bool { return slices.Contains(nemesis.FailoverKinds, k) })
	if slices.Contains(rep.Nemeses, nemesis.LostReply) && cfg.Backend != BackendLocal {
		return nil, fmt.Errorf("runner: the %s nemesis needs the local backend (its clients go through reply proxies)", nemesis.LostReply)
	}
	if failoverRun && cfg.BackupLag > 0 {
		if err := c.CanPartition(); err != nil {
			note := fmt.Sprintf("failover without the cut from the backup zone before the kill: %v", err)
			cfg.Logf("%s", note)
			rep.Notes = append(rep.Notes, note)
			cfg.BackupLag = -1
		}
	}
	if autoFailover {
		if err := setAutoFailover(ctx, c, cfg.FailoverAfter); err != nil {
			return nil, err
		}
		cfg.Logf("runner: failover.auto_after set to %s", cfg.FailoverAfter)
	}
	// Setup is bounded at two minutes: the sched workload's 300 users take
	// some 20s on a loaded 2-core machine.
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	for _, w := range wls {
		if err := w.Setup(setupCtx, env); err != nil {
			cancel()
			return nil, fmt.Errorf("runner: set up %s: %w", w.Name(), err)
		}
	}
	cancel()

	steps := nemesis.Plan(cfg.Seed, nemesis.Config{Faults: rep.Nemeses, Total: cfg.Time, Interval: cfg.Interval, Duration: cfg.FaultDuration})
	for _, s := range steps {
		rep.Plan = append(rep.Plan, s.String())
	}
	cfg.Logf("runner: %d faults planned: %v", len(steps), rep.Plan)
	sampler := newReplicaSampler(c.HTTPAddrs(), c.Security())
	counts := runPhase(ctx, cfg, c, env, wls, steps, rep.ClockZone, autoFailover, failoverRun, sampler)
	if l, ok := c.(local); ok && l.replies != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("lost-reply: %d write replies lost after the write reached a node", l.replies.Dropped()))
	}
	rep.Faults, rep.Failed = counts.Applied, counts.Failed

	settleErr := settle(ctx, cfg, c)
	if settleErr != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("cluster did not converge after healing: %v", settleErr))
	}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	sampler.final(sctx)
	scancel()
	// Each workload's final reads get two minutes: the sched workload's
	// include its wait for its runs to complete.
	for _, w := range wls {
		finalCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if err := w.Final(finalCtx, env); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("final reads of %s: %v", w.Name(), err))
		}
		cancel()
	}
	if err := rec.Flush(); err != nil {
		return nil, fmt.Errorf("runner: write history: %w", err)
	}
	rep.Ops = rec.Ops()

	for _, w := range wls {
		for _, ch := range w.Checkers(cfg.Out) {
			if l, ok := ch.(checker.Linearizable); ok {
				l.Timeout = cfg.CheckTimeout
				ch = l
			}
			res := ch.Check(rep.Ops)
			res.Checker = w.Name() + "/" + res.Checker
			rep.Results = append(rep.Results, res)
		}
	}
	if c.MultiZone() && slices.Contains(rep.Nemeses, nemesis.PartitionZone) {
		res := checker.Lease{Duration: cfg.LeaseDuration, Faults: []string{nemesis.PartitionZone}}.Check(rep.Ops)
		rep.Results = append(rep.Results, res)
	}
	rep.Results = append(rep.Results, sampler.check())
	if failoverRun {
		res := checker.Failover{Faults: nemesis.FailoverKinds, Lease: cfg.LeaseDuration}.Check(rep.Ops)
		rep.Results = append(rep.Results, res)
	}
	rep.Results = append(rep.Results, runChecks(rep, settleErr)...)
	rep.Verdict = checker.Combine(rep.Results)
	rep.Valid = rep.Verdict == checker.Valid
	if err := report.Write(cfg.Out, rep); err != nil {
		return rep, err
	}
	report.Summary(cfg.Stdout, rep)
	return rep, nil
}

// runChecks judges the run itself: a requested fault that never happened
// (Faults), or a cluster that did not converge before its final reads,
// leaves the verdict unknown, never valid.
func runChecks(rep *report.Run, settleErr error) []*checker.Result {
	var out []*checker.Result
	if len(rep.Nemeses) > 0 {
		out = append(out, checker.Faults{Kinds: rep.Nemeses}.Check(rep.Ops))
	}
	if settleErr != nil {
		out = append(out, &checker.Result{Checker: "settle", Verdict: checker.Unknown,
			Unchecked: []string{fmt.Sprintf("the cluster did not converge after healing, so the final reads may not hold its final state: %v", settleErr)}})
	}
	return out
}

// startTarget starts the cluster of cfg.Backend; serverArgs go on every
// node's command line (the docker backend takes none).
func startTarget(ctx context.Context, cfg Config, zones []string, clockZone string, serverArgs []string) (target, error) {
	if cfg.Backend == BackendDocker {
		if len(serverArgs) > 0 {
			return nil, fmt.Errorf("runner: the docker backend runs docker-compose.yml's nodes as they are, and the workloads %v need server flags %v: use the local backend", cfg.Workloads, serverArgs)
		}
		return startDocker(ctx, cfg)
	}
	c, err := startCluster(ctx, cfg, zones, clockZone, serverArgs)
	if err != nil {
		return nil, err
	}
	l := local{Cluster: c}
	if slices.Contains(cfg.Nemeses, nemesis.LostReply) {
		if l.replies, l.proxied, err = startReplyProxies(l.Nodes(), cfg.RequestTimeout, l.Security()); err != nil {
			c.Close()
			return nil, err
		}
	}
	return l, nil
}

// startCluster starts the local cluster; serverArgs go on every node's
// command line.
func startCluster(ctx context.Context, cfg Config, zones []string, clockZone string, serverArgs []string) (*cluster.Cluster, error) {
	ccfg := cluster.Config{
		Nodes: cfg.Nodes, Zones: zones, NodesPerZone: cfg.NodesPerZone,
		Binary: cfg.Binary, LogDir: filepath.Join(cfg.Out, "nodes"),
		RequestTimeout: cfg.RequestTimeout,
		ServerArgs:     serverArgs,
		Logf:           cfg.Logf,
		Insecure:       cfg.Insecure,
	}
	// The clock-skew nemesis restarts a node with an injected fault.
	if cfg.Inject != "" || clockZone != "" || slices.Contains(cfg.Nemeses, nemesis.ClockSkew) {
		if ccfg.Binary == "" {
			bin, err := cluster.Build(ctx, "faultinject")
			if err != nil {
				return nil, err
			}
			ccfg.Binary = bin
		}
		ok, err := cluster.ServerSupports(ctx, ccfg.Binary, "inject")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrInjectUnsupported
		}
	}
	switch {
	case clockZone != "":
		// One --inject flag per node: the clock zone's names both faults.
		ccfg.ZoneArgs = map[string][]string{}
		for _, z := range zones {
			var inj []string
			if cfg.Inject != "" {
				inj = append(inj, cfg.Inject)
			}
			if z == clockZone {
				inj = append(inj, fmt.Sprintf("clock-rate=%g", cfg.ClockRate))
			}
			if len(inj) > 0 {
				ccfg.ZoneArgs[z] = []string{"--inject", strings.Join(inj, ",")}
			}
		}
	case cfg.Inject != "":
		ccfg.ServerArgs = append(ccfg.ServerArgs, "--inject", cfg.Inject)
	}
	return cluster.Start(ctx, ccfg)
}

// zoneNames returns the names of n zones: A, B, C, …
func zoneNames(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, string(rune('A'+i)))
	}
	return out
}

// shardZones reads the route table and returns which zone owns a user's
// shard (user mod 100). The runs move no shard, so it holds throughout.
func shardZones(ctx context.Context, c target) (func(uint64) string, error) {
	var last error
	for try := 0; try < 20 && ctx.Err() == nil; try++ {
		rt, err := c.Routes(ctx)
		if errors.Is(err, errNoNodeUp) {
			return nil, err
		}
		if err == nil && len(rt.Shards) > 0 {
			owner := map[uint64]string{}
			for _, sr := range rt.Shards {
				owner[uint64(sr.Shard)] = sr.Zone
			}
			return func(u uint64) string { return owner[u%uint64(len(rt.Shards))] }, nil
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return nil, fmt.Errorf("runner: read the route table: %w", last)
}

// runPhase runs every workload's workers and the nemesis until cfg.Time has
// passed, and waits for both.
func runPhase(ctx context.Context, cfg Config, c target, env *workload.Env, wls []workload.Workload, steps []nemesis.Step, leaseZone string, autoFailover, failoverRun bool, sampler *replicaSampler) nemesis.Counts {
	start := time.Now()
	env.Stop = start.Add(cfg.Time)
	// Retries of operations begun before Stop get a bounded grace.
	workCtx, cancelWork := context.WithDeadline(ctx, env.Stop.Add(15*time.Second))
	defer cancelWork()
	nemCtx, cancelNem := context.WithDeadline(ctx, env.Stop)
	defer cancelNem()

	var counts nemesis.Counts
	var nemDone, loadDone sync.WaitGroup
	nemDone.Add(1)
	go func() {
		defer nemDone.Done()
		n := &nemesis.Nemesis{C: c.Nemesis(), Rec: env.Rec, Logf: cfg.Logf, LeaseZone: leaseZone, AutoFailover: autoFailover, Start: start,
			LoseReplies: slices.Contains(cfg.Nemeses, nemesis.LostReply), SampleReplicas: sampler.during}
		if failoverRun {
			n.BackupLag = max(cfg.BackupLag, 0)
		}
		if autoFailover {
			if cfg.PauseAutoDuringRecover {
				n.PauseAuto = func(on bool) error {
					after := time.Duration(0)
					if on {
						after = cfg.FailoverAfter
					}
					return setAutoFailover(ctx, c, after)
				}
			}
		}
		if failoverRun && cfg.LoadWorkers > 0 {
			n.LoadZone = zoneLoader(workCtx, env, wls, cfg.LoadWorkers, &loadDone)
		}
		counts = n.Run(nemCtx, steps)
	}()
	var wg sync.WaitGroup
	p := 0
	for _, w := range wls {
		for i := 0; i < cfg.Concurrency; i++ {
			wk := workload.NewWorker(env, w.Name(), p)
			p++
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.Run(workCtx, wk)
			}()
		}
	}
	wg.Wait()
	nemDone.Wait()
	loadDone.Wait()
	return counts
}

// zoneLoader returns the failover nemesis's LoadZone: n extra workers of
// each ZoneLoader workload (processes from 1000 up, so that they are told
// apart in the history), each writing to the zone's users for d.
func zoneLoader(ctx context.Context, env *workload.Env, wls []workload.Workload, n int, wg *sync.WaitGroup) func(string, time.Duration) {
	next := 1000
	return func(zone string, d time.Duration) {
		until := time.Now().Add(d)
		faultAt := time.Now().Add(nemesis.LoadLead)
		for _, w := range wls {
			zl, ok := w.(workload.ZoneLoader)
			if !ok {
				continue
			}
			for i := 0; i < n; i++ {
				wk := workload.NewWorker(env, w.Name(), next)
				next++
				wg.Add(1)
				go func() {
					defer wg.Done()
					zl.LoadZone(ctx, wk, zone, faultAt, until)
				}()
			}
		}
	}
}

// setAutoFailover sets failover.auto_after, so that the meta leader fails a
// lost zone over once its lease has been expired for after; zero switches
// automatic failover off.
func setAutoFailover(ctx context.Context, c target, after time.Duration) error {
	admin, err := c.Client(client.WithMaxRetries(20), client.WithBackoff(50*time.Millisecond, time.Second))
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := admin.SetConfig(sctx, "failover.auto_after", after.String(), 0); err != nil {
		return fmt.Errorf("runner: set failover.auto_after: %w", err)
	}
	return nil
}

// settle waits until every node is back, ready, and the applied indexes
// agree and stay put for a second (the poster has booked everything).
func settle(ctx context.Context, cfg Config, c target) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.SettleTimeout)
	defer cancel()
	if err := c.HealAll(ctx); err != nil {
		return err
	}
	if err := c.WaitHealthy(ctx); err != nil {
		return err
	}
	idx, err := c.WaitQuiescent(ctx, time.Second)
	if err == nil {
		cfg.Logf("runner: converged at applied index %d", idx)
	}
	return err
}
