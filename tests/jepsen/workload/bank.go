package workload

import (
	"context"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
)

// Bank is the money workload: pays (some declined), repays (some refused),
// replays, and reads, stale or linearizable, of random accounts from random
// nodes. Every read must keep used + pending == accepted − repaid within the
// limit, and the final reads (accounts and payment lists) must match what
// the clients were told, key by key.
type Bank struct {
	Accounts      int
	Limit         int64
	MaxPay        int64
	MaxRepay      int64
	ReplayPercent int
}

const bankBase = 3_000_000

// Name implements Workload.
func (b *Bank) Name() string { return "bank" }

func (b *Bank) users() []uint64 { return userRange(bankBase, b.Accounts) }

// Setup implements Workload.
func (b *Bank) Setup(ctx context.Context, env *Env) error {
	return setupAccounts(ctx, env, b.Name(), b.users(), b.Limit)
}

// Run implements Workload.
func (b *Bank) Run(ctx context.Context, w *Worker) {
	users := b.users()
	var acked []sent
	for w.Running(ctx) {
		u := users[w.Rng.IntN(len(users))]
		switch x := w.Rng.IntN(100); {
		case x < b.ReplayPercent && len(acked) > 0:
			s := acked[w.Rng.IntN(len(acked))]
			w.Pay(ctx, s.user, s.req, true)
		case x < 40:
			s := sent{user: u, req: api.PayRequest{Key: w.NextKey("b"), Amount: 1 + w.Rng.Int64N(b.MaxPay), Merchant: "bank"}}
			// Unlike payments, bank replays keys it was told are declined
			// too: the README's stated limit (such a key may be charged by
			// a failover store), which the checker accepts only when
			// reconciliation lists the key as contradicted.
			if r := w.Pay(ctx, s.user, s.req, false); r.Acked {
				acked = append(acked, s)
			}
		case x < 65:
			w.Repay(ctx, u, api.RepayRequest{Key: w.NextKey("br"), Amount: 1 + w.Rng.Int64N(b.MaxRepay)})
		default:
			w.Read(ctx, u, w.Rng.IntN(2) == 0)
		}
	}
}

// Final implements Workload.
func (b *Bank) Final(ctx context.Context, env *Env) error {
	return finalReads(ctx, env, b.Name(), b.users())
}

// Checkers implements Workload.
func (b *Bank) Checkers(string) []checker.Checker {
	return []checker.Checker{checker.Bank{Workload: b.Name()}}
}
