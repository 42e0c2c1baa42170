package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

func newBenchPayCmd() *cobra.Command {
	var (
		addrs    string
		clients  int
		accounts int
		amount   int64
		dur      time.Duration
		batch    int
		conns    int
		coalesce int
		skipSeed bool
		token    string
		ca       string
	)
	cmd := &cobra.Command{
		Use:   "pay",
		Short: "Closed-loop payment load against a running cluster",
		Long: `Each of --clients workers pays in a loop, with a unique key per payment, on
--accounts accounts (created first with a large credit line), for --time.
Prints progress every second and then ops/s and latency percentiles.`,
		Example: "  rzone bench pay --addr 127.0.0.1:7070,127.0.0.1:7071,127.0.0.1:7072 --clients 64 --time 30s",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := clientOptions(token, ca)
			if err != nil {
				return err
			}
			if conns < 0 {
				return usage(fmt.Errorf("--conns %d: want 0 (the client's default) or more", conns))
			}
			if conns > 0 {
				opts = append(opts, client.WithMaxConnsPerNode(conns))
			}
			if coalesce < 0 {
				return usage(fmt.Errorf("--coalesce %d: want 0 (off) or more", coalesce))
			}
			if coalesce > 0 && batch > 1 {
				return usage(fmt.Errorf("--coalesce with --batch %d: coalescing shares single payments' requests; a batch is one already", batch))
			}
			opts = append(opts, client.WithCoalescing(coalesce))
			c, err := client.New(strings.Split(addrs, ","), opts...)
			if err != nil {
				return err
			}
			res, err := benchPay(cmd.Context(), cmd.ErrOrStderr(), c, benchPayOpts{
				clients: clients, accounts: accounts, amount: amount, dur: dur, batch: batch, skipSeed: skipSeed,
			})
			if err != nil {
				return err
			}
			res.print(cmd.OutOrStdout())
			printBooking(cmd.Context(), cmd.OutOrStdout(), c, strings.Split(addrs, ","), 2*time.Minute)
			printMemory(cmd.Context(), cmd.OutOrStdout(), c, strings.Split(addrs, ","))
			return nil
		},
	}
	f := cmd.Flags()
	addrFlags(f, &addrs, &token, &ca)
	f.IntVar(&clients, "clients", 32, "concurrent closed-loop workers")
	f.IntVar(&accounts, "accounts", 1000, "accounts to spread payments over")
	f.Int64Var(&amount, "amount", 1, "amount of each payment, minor units")
	f.DurationVar(&dur, "time", 10*time.Second, "how long to run")
	f.IntVar(&batch, "batch", 1, "payments per request (1: one request each; more: POST /v1/payments/batch)")
	f.IntVar(&conns, "conns", 0, "HTTP connections per node the workers share (0: the client's default, 512)")
	f.IntVar(&coalesce, "coalesce", 0, "let concurrent single payments share requests, at most this many in flight to a node (client.WithCoalescing; 0: off, one request each)")
	f.BoolVar(&skipSeed, "skip-seed", false, "the --accounts accounts exist from an earlier run (with millions, seeding takes minutes)")
	return cmd
}

// benchBase is the first account id of a benchmark, far from the users of
// a demo.
const benchBase = 1 << 40

type benchPayOpts struct {
	clients, accounts, batch int
	amount                   int64
	dur                      time.Duration
	skipSeed                 bool
}

// benchResult is what one bench pay run measured.
type benchResult struct {
	clients, batch   int
	payments, failed int64
	elapsed          time.Duration
	// accounts were created (with the batch endpoint) in seed, before the
	// load and outside its figures.
	accounts int
	seed     time.Duration
	skipSeed bool
	// p50 ... max are per request.
	p50, p99, p999, max time.Duration
}

func (r benchResult) rate() float64 { return float64(r.payments) / r.elapsed.Seconds() }

// print writes the seeding line ("seeded N accounts in D"), then the result
// table: a header line starting "clients" and ending "failed", and one row.
func (r benchResult) print(out io.Writer) {
	if r.skipSeed {
		fmt.Fprintf(out, "seeding skipped: %d accounts from an earlier run\n", r.accounts)
	} else {
		fmt.Fprintf(out, "seeded %d accounts in %s (%.0f accounts/s, batch endpoint)\n", r.accounts, r.seed.Round(time.Millisecond), float64(r.accounts)/max(r.seed.Seconds(), 1e-9))
	}
	fmt.Fprintf(out, "%-8s %-6s %-9s %-10s %-10s %-10s %-10s %-10s %s\n", "clients", "batch", "payments", "payments/s", "p50", "p99", "p999", "max", "failed")
	fmt.Fprintf(out, "%-8d %-6d %-9d %-10.0f %-10s %-10s %-10s %-10s %d\n", r.clients, r.batch, r.payments, r.rate(),
		r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.p999.Round(10*time.Microsecond),
		r.max.Round(10*time.Microsecond), r.failed)
}

// benchPay creates the accounts, runs the load and returns what it
// measured; progress gets a line a second.
func benchPay(ctx context.Context, progress io.Writer, c *client.Client, o benchPayOpts) (benchResult, error) {
	if o.clients < 1 || o.accounts < 1 || o.amount < 1 || o.dur <= 0 || o.batch < 1 || o.batch > client.MaxBatch {
		return benchResult{}, fmt.Errorf("clients, accounts, amount and time must be positive, batch 1 to %d", client.MaxBatch)
	}
	seedStart := time.Now()
	if !o.skipSeed {
		if err := createAccounts(ctx, progress, c, benchBase, int64(o.accounts), o.clients, client.MaxAmount); err != nil {
			return benchResult{}, err
		}
	}
	seed := time.Since(seedStart)
	run := time.Now().UnixNano()
	var done, failed atomic.Int64
	lats := make([][]time.Duration, o.clients)
	ctx, cancel := context.WithTimeout(ctx, o.dur)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				t := time.Now()
				ok, bad := payOnce(ctx, c, o, run, w, i)
				if ctx.Err() != nil {
					return
				}
				failed.Add(int64(bad))
				if ok > 0 {
					lats[w] = append(lats[w], time.Since(t))
					done.Add(int64(ok))
				}
			}
		}(w)
	}
	tick := time.NewTicker(time.Second)
	go func() {
		var last int64
		for range tick.C {
			d := done.Load()
			fmt.Fprintf(progress, "%6.0fs  %8d ops  %8d ops/s  %d failed\n", time.Since(start).Seconds(), d, d-last, failed.Load())
			last = d
		}
	}()
	wg.Wait()
	tick.Stop()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	return benchResult{clients: o.clients, batch: o.batch, accounts: o.accounts, seed: seed, skipSeed: o.skipSeed, payments: done.Load(), failed: failed.Load(), elapsed: elapsed,
		p50: pct(0.50), p99: pct(0.99), p999: pct(0.999), max: pct(1)}, nil
}

// payOnce makes one request: a single payment, or a batch of o.batch. It
// returns how many payments were accepted and how many failed; latency
// percentiles are per request.
func payOnce(ctx context.Context, c *client.Client, o benchPayOpts, run int64, w, i int) (ok, bad int) {
	base := uint64(benchBase)
	if o.batch == 1 {
		user := base + uint64((w*7919+i)%o.accounts)
		if _, err := c.Pay(ctx, user, client.PayRequest{Key: fmt.Sprintf("b%d-%d-%d", run, w, i), Amount: o.amount, Merchant: "bench"}); err != nil {
			return 0, 1
		}
		return 1, 0
	}
	ps := make([]client.BatchPayment, o.batch)
	for j := range ps {
		ps[j] = client.BatchPayment{User: base + uint64((w*7919+i*o.batch+j)%o.accounts),
			Key: fmt.Sprintf("b%d-%d-%d-%d", run, w, i, j), Amount: o.amount, Merchant: "bench"}
	}
	res, err := c.PayBatch(ctx, ps)
	if err != nil {
		return 0, len(ps)
	}
	for _, r := range res {
		if r.Error == nil {
			ok++
		} else {
			bad++
		}
	}
	return ok, bad
}

// printMemory prints each node's resident memory, as its /metrics says
// (process_resident_memory_bytes), or why it could not be read.
func printMemory(ctx context.Context, out io.Writer, c *client.Client, addrs []string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fmt.Fprint(out, "resident memory:")
	for _, a := range addrs {
		text, err := c.Metrics(ctx, a)
		if err != nil {
			fmt.Fprintf(out, " %s ? (%v)", a, err)
			continue
		}
		rss, ok := metricValue(text, "process_resident_memory_bytes")
		if !ok {
			fmt.Fprintf(out, " %s ?", a)
			continue
		}
		fmt.Fprintf(out, " %s %.0f MiB", a, rss/(1<<20))
	}
	fmt.Fprintln(out)
}

// printBooking reports how far the zones' leaders were behind in booking
// accepted payments into bills when the load ended
// (rzone_post_behind_seconds, the largest over every zone's leader, found
// in the route table, and addrs), then waits up to wait for them to catch
// up and says how long that took: a rate whose booking falls behind is not
// one a zone sustains.
func printBooking(ctx context.Context, out io.Writer, c *client.Client, addrs []string, wait time.Duration) {
	nodes := slices.Clone(addrs)
	if rt, err := c.Routes(ctx); err == nil {
		for _, z := range rt.Zones {
			if z.LeaderHTTP != "" && !slices.Contains(nodes, z.LeaderHTTP) {
				nodes = append(nodes, z.LeaderHTTP)
			}
		}
	}
	// behind is the largest figure any node reports, and how many groups
	// reported one; a node that does not answer counts as no figure.
	behind := func() (worst float64, groups int) {
		for _, a := range nodes {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			text, err := c.Metrics(rctx, a)
			cancel()
			if err != nil {
				continue
			}
			for _, v := range metricSamples(text, "rzone_post_behind_seconds") {
				worst, groups = max(worst, v), groups+1
			}
		}
		return worst, groups
	}
	start := time.Now()
	first, groups := behind()
	if groups == 0 {
		fmt.Fprintf(out, "booking: none of %d nodes reports rzone_post_behind_seconds (no leader found)\n", len(nodes))
		return
	}
	if first == 0 {
		fmt.Fprintf(out, "booking: kept up (0 s behind when the load ended, %d groups' leaders)\n", groups)
		return
	}
	last := first
	for time.Since(start) < wait && ctx.Err() == nil {
		time.Sleep(250 * time.Millisecond)
		b, n := behind()
		if n == 0 {
			continue // no answer is no figure, not a caught-up one
		}
		if last = b; b == 0 {
			fmt.Fprintf(out, "booking: %.1f s behind when the load ended, caught up %s later\n", first, time.Since(start).Round(100*time.Millisecond))
			return
		}
	}
	fmt.Fprintf(out, "booking: %.1f s behind when the load ended, still %.1f s behind %s later\n", first, last, wait)
}

// metricSamples returns every sample of name, labelled or not, in a
// Prometheus text page.
func metricSamples(text, name string) []float64 {
	var out []float64
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		var v float64
		if _, err := fmt.Sscan(rest, &v); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// metricValue finds an unlabelled sample of name in a Prometheus text page.
func metricValue(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest, &v); err == nil {
			return v, true
		}
	}
	return 0, false
}
