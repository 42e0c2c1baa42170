package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
)

// Payments is the set workload: unique payment keys spread over a few
// accounts, each retried with its key until answered, plus deliberate
// replays of acknowledged keys. Most accounts have a limit too high to
// decline; the last Tight have a small one, so the zone itself declines
// their payments once it is used up (a declined key must never be
// charged). Checked: nothing lost, nothing doubled, no declined key
// charged, replicas agree, money adds up.
type Payments struct {
	Accounts int
	Limit    int64
	// Tight of the Accounts have TightLimit instead of Limit.
	Tight      int
	TightLimit int64
	// MaxAmount is the largest payment, in minor units.
	MaxAmount int64
	// ReplayPercent of operations resend an acknowledged payment.
	ReplayPercent int
}

const paymentsBase = 1_000_000

// Name implements Workload.
func (p *Payments) Name() string { return "payments" }

func (p *Payments) users() []uint64 { return userRange(paymentsBase, p.Accounts) }

// Setup implements Workload.
func (p *Payments) Setup(ctx context.Context, env *Env) error {
	users := p.users()
	loose := users[:len(users)-min(p.Tight, len(users))]
	if err := setupAccounts(ctx, env, p.Name(), loose, p.Limit); err != nil {
		return err
	}
	return setupAccounts(ctx, env, p.Name(), users[len(loose):], p.TightLimit)
}

type sent struct {
	user uint64
	req  api.PayRequest
}

// Run implements Workload.
func (p *Payments) Run(ctx context.Context, w *Worker) {
	users := p.users()
	var acked []sent
	for w.Running(ctx) {
		if len(acked) > 0 && w.Rng.IntN(100) < p.ReplayPercent {
			s := acked[w.Rng.IntN(len(acked))]
			w.Pay(ctx, s.user, s.req, true)
			continue
		}
		s := sent{
			user: users[w.Rng.IntN(len(users))],
			req: api.PayRequest{
				Key:      w.NextKey("p"),
				Amount:   1 + w.Rng.Int64N(p.MaxAmount),
				Merchant: fmt.Sprintf("m%d", w.Rng.IntN(10)),
			},
		}
		// Only keys acknowledged as accepted are replayed. A client that
		// was told a key is declined does not send it again, and if it did
		// so to a failover store, for an account whose zone declined it in
		// writes the store never received, the store cannot know of the
		// decline (README, "What a client can rely on").
		if r := w.Pay(ctx, s.user, s.req, false); r.Acked && r.Status != api.PaymentDeclined {
			acked = append(acked, s)
		}
	}
}

// LoadZone implements ZoneLoader: fresh payments, retried like the others,
// on the workload's users in zone.
func (p *Payments) LoadZone(ctx context.Context, w *Worker, zone string, until time.Time) {
	var users []uint64
	for _, u := range p.users() {
		if w.Env.zoneOf(u) == zone {
			users = append(users, u)
		}
	}
	for len(users) > 0 && w.Running(ctx) && time.Now().Before(until) {
		w.Pay(ctx, users[w.Rng.IntN(len(users))], api.PayRequest{
			Key:      w.NextKey("z"),
			Amount:   1 + w.Rng.Int64N(p.MaxAmount),
			Merchant: "burst",
		}, false)
	}
}

// Final implements Workload.
func (p *Payments) Final(ctx context.Context, env *Env) error {
	return finalReads(ctx, env, p.Name(), p.users())
}

// Checkers implements Workload.
func (p *Payments) Checkers(string) []checker.Checker {
	return []checker.Checker{checker.Set{Workload: p.Name()}, checker.Bank{Workload: p.Name()}}
}
