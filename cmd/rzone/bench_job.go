package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

func newBenchJobCmd() *cobra.Command {
	var (
		addrs              string
		o                  benchJobOpts
		skipSeed, seedOnly bool
		token, ca          string
	)
	cmd := &cobra.Command{
		Use:   "job",
		Short: "A batch run end to end over --users users with a bill: seed them, run the job, report users/s",
		Long: `Seeds --users users (accounts and then one payment each, --batch a request,
--clients requests at once), waits until their payments are
booked into the cycle's bill, starts a run of --job for the cycle, follows
it to the end and prints users/s. Users are numbered from 2^41 so that they
meet no demo or "bench pay" user. --skip-seed runs the job over users an
earlier run seeded; --seed-only stops after seeding.`,
		Example: "  rzone bench job --users 1000000 --job statement",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := clientOptions(token, ca)
			if err != nil {
				return err
			}
			c, err := client.New(strings.Split(addrs, ","), append(opts, client.WithMaxRetries(20),
				client.WithBackoff(50*time.Millisecond, 2*time.Second), client.WithTimeout(30*time.Second))...)
			if err != nil {
				return err
			}
			o.seed, o.run = !skipSeed, !seedOnly
			return benchJob(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c, o)
		},
	}
	f := cmd.Flags()
	addrFlags(f, &addrs, &token, &ca)
	f.Int64Var(&o.users, "users", 10_000, "users to seed and run the job over")
	f.StringVar(&o.job, "job", "statement", "job to run: statement, reminder, autodebit")
	f.StringVar(&o.cycle, "cycle", time.Now().UTC().Format("200601"), "billing cycle, YYYYMM (payments are booked into the current one)")
	f.IntVar(&o.clients, "clients", 64, "concurrent seeding workers")
	f.IntVar(&o.batch, "batch", 500, "payments per seeding request")
	f.BoolVar(&skipSeed, "skip-seed", false, "the users are seeded already")
	f.BoolVar(&seedOnly, "seed-only", false, "seed and stop")
	return cmd
}

// benchJobBase is the first user of "rzone bench job", apart from the
// users of "bench pay" (from 2^40) and of a demo.
const benchJobBase = 1 << 41

type benchJobOpts struct {
	users          int64
	job, cycle     string
	clients, batch int
	seed, run      bool
}

func benchJob(ctx context.Context, out, progress io.Writer, c *client.Client, o benchJobOpts) error {
	if o.users < 1 || o.clients < 1 || o.batch < 1 || o.batch > client.MaxBatch {
		return fmt.Errorf("users and clients must be positive, batch 1 to %d", client.MaxBatch)
	}
	var seedTime time.Duration
	if o.seed {
		began := time.Now()
		if err := createAccounts(ctx, progress, c, benchJobBase, o.users, o.clients, 1_000_000); err != nil {
			return err
		}
		if err := payEachOnce(ctx, progress, c, o); err != nil {
			return err
		}
		if err := waitBooked(ctx, progress, c, o); err != nil {
			return err
		}
		seedTime = time.Since(began)
		fmt.Fprintf(progress, "seeded %d users in %s\n", o.users, seedTime.Round(time.Second))
	}
	if !o.run {
		return nil
	}
	r, created, err := c.StartRun(ctx, o.job, o.cycle)
	if err != nil {
		return err
	}
	if !created {
		return fmt.Errorf("run %d of %s for %s is already going on: wait for it or cancel it", r.ID, r.Job, r.Cycle)
	}
	began := time.Now()
	if err := watchRun(ctx, c, r.ID, progress, isTerminal(progress)); err != nil {
		return err
	}
	elapsed := time.Since(began)
	if r, err = c.GetRun(ctx, r.ID); err != nil {
		return err
	}
	fmt.Fprintf(out, "%-10s %-7s %-10s %-10s %-8s %-10s %-10s %-10s %s\n",
		"job", "cycle", "seeded", "users", "tasks", "failures", "wall", "users/s", "seeding")
	fmt.Fprintf(out, "%-10s %-7s %-10d %-10d %-8d %-10d %-10s %-10.0f %s\n",
		r.Job, r.Cycle, o.users, r.UsersDone, r.TasksDone, r.Failures, elapsed.Round(100*time.Millisecond),
		float64(r.UsersDone)/elapsed.Seconds(), seedTime.Round(time.Second))
	if o.seed && o.job == "statement" && r.UsersDone < o.users {
		return fmt.Errorf("the run processed %d users, %d were seeded with a bill", r.UsersDone, o.users)
	}
	return nil
}

// createAccounts creates accounts base..base+n-1 with limit as credit line,
// 500 a request, workers requests at a time, printing progress every second.
func createAccounts(ctx context.Context, progress io.Writer, c *client.Client, base uint64, n int64, workers int, limit int64) error {
	return parallel(ctx, progress, "accounts", n, 500, workers, func(ctx context.Context, from, to int64) (int64, error) {
		as := make([]client.BatchAccount, 0, to-from)
		for i := from; i < to; i++ {
			as = append(as, client.BatchAccount{User: base + uint64(i), CreditLimit: limit})
		}
		return settled(c.PutAccounts(ctx, as))
	})
}

// payEachOnce pays 1000 + i%1000 minor units once on every user, with
// keys stable across runs so that a rerun replays instead of paying again.
func payEachOnce(ctx context.Context, progress io.Writer, c *client.Client, o benchJobOpts) error {
	return parallel(ctx, progress, "payments", o.users, int64(o.batch), o.clients, func(ctx context.Context, from, to int64) (int64, error) {
		ps := make([]client.BatchPayment, 0, to-from)
		for i := from; i < to; i++ {
			ps = append(ps, client.BatchPayment{User: benchJobBase + uint64(i), Key: "bench-job-seed",
				Amount: 1000 + i%1000, Merchant: "bench"})
		}
		return settled(c.PayBatch(ctx, ps))
	})
}

// settled counts a batch's results, or fails with its first error.
func settled(res []client.BatchResult, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	for i, r := range res {
		if r.Error != nil {
			return 0, fmt.Errorf("item %d of a batch: %v", i, r.Error)
		}
	}
	return int64(len(res)), nil
}

// waitBooked waits until a sample of the seeded users has the payment in
// the cycle's bill: a run counts as due only the users with a bill.
func waitBooked(ctx context.Context, progress io.Writer, c *client.Client, o benchJobOpts) error {
	rng := rand.New(rand.NewPCG(uint64(o.users), 1))
	sample := []int64{0, o.users - 1}
	for range 200 {
		sample = append(sample, rng.Int64N(o.users))
	}
	deadline := time.Now().Add(5 * time.Minute)
	for _, i := range sample {
		for {
			b, err := c.GetBill(ctx, benchJobBase+uint64(i), o.cycle)
			if err == nil && b.Principal == 1000+i%1000 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("user %d's payment not booked into bill %s after 5 minutes (last error: %v)", benchJobBase+uint64(i), o.cycle, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	fmt.Fprintf(progress, "payments booked into bill %s (%d users sampled)\n", o.cycle, len(sample))
	return nil
}

// parallel runs do over [0, n) in chunks of chunk, workers chunks at a
// time, and prints the count done every second. The first error stops it.
func parallel(ctx context.Context, progress io.Writer, what string, n, chunk int64, workers int,
	do func(ctx context.Context, from, to int64) (int64, error)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				from := next.Add(chunk) - chunk
				if from >= n {
					return
				}
				k, err := do(ctx, from, min(from+chunk, n))
				if err != nil {
					cancel(err)
					return
				}
				done.Add(k)
			}
		}()
	}
	stop := make(chan struct{})
	start := time.Now()
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				d := done.Load()
				fmt.Fprintf(progress, "%6.0fs  %s %d/%d  %d/s\n", time.Since(start).Seconds(), what, d, n, d-last)
				last = d
			}
		}
	}()
	wg.Wait()
	close(stop)
	if err := context.Cause(ctx); err != nil {
		return err
	}
	fmt.Fprintf(progress, "%s: %d in %s\n", what, n, time.Since(start).Round(100*time.Millisecond))
	return nil
}
