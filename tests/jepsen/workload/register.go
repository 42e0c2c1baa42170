package workload

import (
	"context"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
)

// Register is the linearizability workload: pays, repays and linearizable
// reads on a few hot accounts with a tight limit, so declines and refusals
// happen too. Each account's history is checked with Porcupine.
type Register struct {
	Accounts int
	Limit    int64
	MaxPay   int64
	MaxRepay int64
	// Think is the pause between two operations of a worker; it keeps the
	// histories small enough to check.
	Think time.Duration
}

const registerBase = 2_000_000

// Name implements Workload.
func (r *Register) Name() string { return "register" }

func (r *Register) users() []uint64 { return userRange(registerBase, r.Accounts) }

// Setup implements Workload.
func (r *Register) Setup(ctx context.Context, env *Env) error {
	return setupAccounts(ctx, env, r.Name(), r.users(), r.Limit)
}

// Run implements Workload.
func (r *Register) Run(ctx context.Context, w *Worker) {
	users := r.users()
	for w.Running(ctx) {
		u := users[w.Rng.IntN(len(users))]
		switch x := w.Rng.IntN(100); {
		case x < 45:
			w.Pay(ctx, u, api.PayRequest{Key: w.NextKey("r"), Amount: 1 + w.Rng.Int64N(r.MaxPay), Merchant: "hot"}, false)
		case x < 65:
			w.Repay(ctx, u, api.RepayRequest{Key: w.NextKey("rr"), Amount: 1 + w.Rng.Int64N(r.MaxRepay)})
		default:
			w.Read(ctx, u, false)
		}
		if r.Think > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(r.Think):
			}
		}
	}
}

// Final implements Workload.
func (r *Register) Final(ctx context.Context, env *Env) error {
	linearizableReads(ctx, env, r.Name(), r.users())
	return finalReads(ctx, env, r.Name(), r.users())
}

// Checkers implements Workload.
func (r *Register) Checkers(outDir string) []checker.Checker {
	return []checker.Checker{checker.Linearizable{Workload: r.Name(), OutDir: outDir}, checker.Bank{Workload: r.Name()}}
}
