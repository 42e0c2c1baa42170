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
	)
	cmd := &cobra.Command{
		Use:   "pay",
		Short: "Closed-loop payment load against a running cluster",
		Long: `Each of --clients workers pays in a loop, with a unique key per payment, on
--accounts accounts (created first with a large credit line), for --time.
Prints progress every second and then ops/s and latency percentiles.`,
		Example: "  rzone bench pay --addr 127.0.0.1:7070,127.0.0.1:7071,127.0.0.1:7072 --clients 64 --time 30s",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.New(strings.Split(addrs, ","))
			if err != nil {
				return err
			}
			return benchPay(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c, benchPayOpts{
				clients: clients, accounts: accounts, amount: amount, dur: dur,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&addrs, "addr", "127.0.0.1:7070", "API address(es), comma separated")
	f.IntVar(&clients, "clients", 32, "concurrent closed-loop workers")
	f.IntVar(&accounts, "accounts", 1000, "accounts to spread payments over")
	f.Int64Var(&amount, "amount", 1, "amount of each payment, minor units")
	f.DurationVar(&dur, "time", 10*time.Second, "how long to run")
	return cmd
}

type benchPayOpts struct {
	clients, accounts int
	amount            int64
	dur               time.Duration
}

// benchPay runs the load and prints a result table. The account ids start
// high so that a benchmark does not touch users of a demo.
func benchPay(ctx context.Context, out, progress io.Writer, c *client.Client, o benchPayOpts) error {
	if o.clients < 1 || o.accounts < 1 || o.amount < 1 || o.dur <= 0 {
		return fmt.Errorf("clients, accounts, amount and time must be positive")
	}
	const base = 1 << 40
	fmt.Fprintf(progress, "creating %d accounts\n", o.accounts)
	for i := 0; i < o.accounts; i++ {
		if _, err := c.PutAccount(ctx, base+uint64(i), client.MaxAmount); err != nil {
			return fmt.Errorf("create account: %w", err)
		}
	}
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
				user := base + uint64((w*7919+i)%o.accounts)
				t := time.Now()
				_, err := c.Pay(ctx, user, client.PayRequest{Key: fmt.Sprintf("b%d-%d-%d", run, w, i), Amount: o.amount, Merchant: "bench"})
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				lats[w] = append(lats[w], time.Since(t))
				done.Add(1)
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
	fmt.Fprintf(out, "%-8s %-8s %-10s %-10s %-10s %-10s %-10s %s\n", "clients", "ops", "ops/s", "p50", "p99", "p999", "max", "failed")
	fmt.Fprintf(out, "%-8d %-8d %-10.0f %-10s %-10s %-10s %-10s %d\n", o.clients, len(all), float64(len(all))/elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(0.999).Round(10*time.Microsecond),
		pct(1).Round(10*time.Microsecond), failed.Load())
	return nil
}
