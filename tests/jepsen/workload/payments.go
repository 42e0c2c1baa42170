package workload

import (
	"context"
	"fmt"
	"slices"
	"sync"
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

	// burst are accounts of burstLimit that only the failover nemeses'
	// load writes to, burstSet of them per burst, burstsPerZone bursts per
	// zone, fresh ones for each burst. The first of a burst's set fills up
	// from the fault on, in writes the backup's replica may lack, so the
	// zone declines keys that the failover store, seeing an emptier
	// account, may accept when their clients retry them there (their first
	// replies lost). The others are written one second each, so that some
	// are first written after the fault began (after the failover command,
	// with failover-live): guard marks must cover them too.
	burst  map[string][]uint64
	mu     sync.Mutex
	bursts map[string][]time.Time // per zone, the bursts begun, by end time
}

// Burst accounts: how many per zone, and their credit limit (a 1000 payment
// at most, so about 10 fill one; a failover store's stand-in share of it,
// 20% by default, takes one or two more).
const (
	burstsPerZone = 3
	burstSet      = 8
	burstLimit    = 5_000
	burstBase     = 1_100_000
)

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
	if err := setupAccounts(ctx, env, p.Name(), users[len(loose):], p.TightLimit); err != nil {
		return err
	}
	if env.ZoneOf == nil {
		return nil
	}
	// Each set: an even id to fill (failover-live loses the replies of
	// even ids), then odd ids written a second each (answered).
	even, odd := map[string][]uint64{}, map[string][]uint64{}
	for u := uint64(burstBase); u < burstBase+4000; u++ {
		z := env.zoneOf(u)
		if u%2 == 0 && len(even[z]) < burstsPerZone {
			even[z] = append(even[z], u)
		} else if u%2 == 1 && len(odd[z]) < burstsPerZone*(burstSet-1) {
			odd[z] = append(odd[z], u)
		}
	}
	p.burst = map[string][]uint64{}
	var all []uint64
	for z := range even {
		for i := range min(len(even[z]), len(odd[z])/(burstSet-1)) {
			set := append([]uint64{even[z][i]}, odd[z][i*(burstSet-1):(i+1)*(burstSet-1)]...)
			p.burst[z] = append(p.burst[z], set...)
			all = append(all, set...)
		}
	}
	slices.Sort(all)
	return setupAccounts(ctx, env, p.Name(), all, burstLimit)
}

// burstUsers returns the set of accounts a burst on zone ending at until
// writes to: every worker of one burst gets the same set, each burst a new
// one (nil when the zone's are used up).
func (p *Payments) burstUsers(zone string, until time.Time) []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bursts == nil {
		p.bursts = map[string][]time.Time{}
	}
	i := slices.IndexFunc(p.bursts[zone], until.Equal)
	if i < 0 {
		p.bursts[zone] = append(p.bursts[zone], until)
		i = len(p.bursts[zone]) - 1
	}
	if (i+1)*burstSet > len(p.burst[zone]) {
		return nil
	}
	return p.burst[zone][i*burstSet : (i+1)*burstSet]
}

// finalUsers are every account the workload wrote to.
func (p *Payments) finalUsers() []uint64 {
	out := p.users()
	for _, us := range p.burst {
		out = append(out, us...)
	}
	slices.Sort(out)
	return out
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
// on the workload's users in zone and on the burst's own account there.
func (p *Payments) LoadZone(ctx context.Context, w *Worker, zone string, faultAt, until time.Time) {
	var users []uint64
	for _, u := range p.users() {
		if w.Env.zoneOf(u) == zone {
			users = append(users, u)
		}
	}
	burst := p.burstUsers(zone, until)
	// Half the burst's workers (odd processes) write, from the fault on,
	// only to the account of the current second: their answers come back
	// (odd ids), so they go on to each new second's account however long
	// the others wait on lost replies.
	fresh := burst != nil && w.Process%2 == 1
	for (len(users) > 0 || burst != nil) && w.Running(ctx) && time.Now().Before(until) {
		// From the fault on, the other workers send half their payments to
		// the burst's filling account.
		var u uint64
		since := time.Since(faultAt)
		switch {
		case fresh && since > 0:
			u = burst[1+min(int(since/time.Second), burstSet-2)]
		case burst != nil && !fresh && since > 0 && (len(users) == 0 || w.Rng.IntN(2) == 0):
			u = burst[0]
		case len(users) > 0:
			u = users[w.Rng.IntN(len(users))]
		default:
			time.Sleep(10 * time.Millisecond)
			continue
		}
		w.Pay(ctx, u, api.PayRequest{
			Key:      w.NextKey("z"),
			Amount:   1 + w.Rng.Int64N(p.MaxAmount),
			Merchant: "burst",
		}, false)
	}
}

// Final implements Workload.
func (p *Payments) Final(ctx context.Context, env *Env) error {
	return finalReads(ctx, env, p.Name(), p.finalUsers())
}

// Checkers implements Workload.
func (p *Payments) Checkers(string) []checker.Checker {
	return []checker.Checker{checker.Set{Workload: p.Name()}, checker.Bank{Workload: p.Name()}}
}
