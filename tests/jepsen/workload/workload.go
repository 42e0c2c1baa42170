// Package workload generates the client operations of a fault test and
// records each attempt in the history: payments with same-key retries (a
// set), pays, repays and linearizable reads on a few hot accounts (checked
// with Porcupine), a bank-style mix checked for money, and the scheduler's
// batch runs (sched), checked for one statement, reminder and auto-debit per
// due user. Every random choice comes from the run's seed.
package workload

import (
	"context"
	"errors"
	"fmt"
	"github.com/rzonedb/rzone/client"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Node is one node of the cluster under test as the clients see it.
type Node struct {
	ID string
	// Zone is the node's zone in a multi-zone cluster, "" otherwise.
	Zone string
	API  *httpapi.Client
}

// Env is what workloads share during a run.
type Env struct {
	Rec   *history.Recorder
	Nodes []Node
	// Seed derives every worker's random source.
	Seed int64
	// Stop is when workers invoke their last new operation; retries of an
	// operation already begun go on until their context ends.
	Stop time.Time
	// ZoneOf, in a multi-zone cluster, names the zone that owns a user's
	// shard (as the route table said when the run began); nil for a single
	// zone. Writes carry it in the history, and final reads of a user ask
	// only the nodes of its zone, whose applied index is that zone's.
	ZoneOf func(user uint64) string
	Logf   func(format string, args ...any)
	// ClientOptions secure a client library client of the cluster (TLS
	// and a token); none for an open cluster.
	ClientOptions []client.Option
}

// zoneOf returns the zone of user, "" in a single zone.
func (e *Env) zoneOf(user uint64) string {
	if e.ZoneOf == nil {
		return ""
	}
	return e.ZoneOf(user)
}

// Workload is one kind of client traffic with the checkers that judge it.
type Workload interface {
	Name() string
	// Setup creates the workload's accounts before the clock of faults
	// starts.
	Setup(ctx context.Context, env *Env) error
	// Run is one worker's loop, until env.Stop or ctx ends.
	Run(ctx context.Context, w *Worker)
	// Final reads the workload's accounts on every node after the cluster
	// has healed and converged.
	Final(ctx context.Context, env *Env) error
	// Checkers judge the history; outDir receives their artifacts.
	Checkers(outDir string) []checker.Checker
}

// Names lists the workloads New knows.
var Names = []string{"payments", "register", "bank", "sched"}

// Default lists the workloads run when none are named: those that run
// together (sched runs alone, see Sched).
var Default = []string{"payments", "register", "bank"}

// New returns the workload called name.
func New(name string) (Workload, error) {
	switch name {
	case "payments":
		return &Payments{Accounts: 5, Limit: api.MaxAmount / 1000, Tight: 2, TightLimit: 20_000, MaxAmount: 1000, ReplayPercent: 10}, nil
	case "register":
		return &Register{Accounts: 3, Limit: 5000, MaxPay: 300, MaxRepay: 200, Think: 10 * time.Millisecond}, nil
	case "bank":
		return &Bank{Accounts: 8, Limit: 20000, MaxPay: 2000, MaxRepay: 1500, ReplayPercent: 5}, nil
	case "sched":
		return &Sched{Users: 300, Window: 4, RunTimeout: 60 * time.Second, LeaseTTL: 3 * time.Second}, nil
	}
	return nil, fmt.Errorf("unknown workload %q (want some of %s)", name, strings.Join(Names, ","))
}

// ServerConfigurer is a workload that needs flags on every rzone server of
// the run.
type ServerConfigurer interface {
	// ServerArgs are appended to every server's command line.
	ServerArgs() []string
}

// ZoneLoader is a workload that can put a burst of extra writes on the
// users of one zone (the failover nemesis's load before it kills the zone).
type ZoneLoader interface {
	// LoadZone is one extra worker's loop: writes to the workload's users
	// in zone until the time until, env.Stop or ctx; it returns at once
	// when the workload has no user there.
	// The fault strikes at faultAt (the cut from the backup zone, or the
	// kill).
	LoadZone(ctx context.Context, w *Worker, zone string, faultAt, until time.Time)
}

// Worker is one client process. A worker has one operation in flight at a
// time; its attempts go to its home node first and then round the cluster.
type Worker struct {
	Env      *Env
	Process  int
	Home     int
	Rng      *rand.Rand
	Workload string

	// MaxAttempts bounds the tries of one key. Zero means 12.
	MaxAttempts int
	seq         int
}

// NewWorker returns worker process p of workload name, seeded from env.
func NewWorker(env *Env, name string, p int) *Worker {
	return &Worker{
		Env:      env,
		Process:  p,
		Home:     p % len(env.Nodes),
		Rng:      rand.New(rand.NewPCG(uint64(env.Seed), uint64(p)+1)),
		Workload: name,
	}
}

// NextKey returns a fresh idempotency key of this worker.
func (w *Worker) NextKey(prefix string) string {
	w.seq++
	return fmt.Sprintf("%s%d-%d", prefix, w.Process, w.seq)
}

// Running reports whether the worker should invoke another operation.
func (w *Worker) Running(ctx context.Context) bool {
	return ctx.Err() == nil && time.Now().Before(w.Env.Stop)
}

// Result is what one logical write ended with.
type Result struct {
	// Acked is true when some attempt got a definite answer.
	Acked bool
	// Status is the acknowledged status (accepted, posted, declined,
	// applied, refused).
	Status   string
	LogIndex uint64
}

// Pay sends a payment, retrying the same key on every retryable error and
// transport error, and records each attempt.
func (w *Worker) Pay(ctx context.Context, user uint64, req api.PayRequest, replay bool) Result {
	base := history.Op{Process: w.Process, F: history.FPay, Workload: w.Workload, User: user, Key: req.Key, Amount: req.Amount, Replay: replay, Zone: w.Env.zoneOf(user)}
	return w.write(ctx, base, func(ctx context.Context, c *httpapi.Client) (history.Op, error) {
		p, created, err := c.Pay(ctx, user, req)
		var out history.Op
		if p != nil {
			out.Status, out.Created, out.LogIndex = p.Status, created, p.Index
		}
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeInsufficientCredit {
			out.Status = api.PaymentDeclined
		}
		return out, err
	})
}

// Repay sends a repayment like Pay.
func (w *Worker) Repay(ctx context.Context, user uint64, req api.RepayRequest) Result {
	base := history.Op{Process: w.Process, F: history.FRepay, Workload: w.Workload, User: user, Key: req.Key, Amount: req.Amount, Zone: w.Env.zoneOf(user)}
	return w.write(ctx, base, func(ctx context.Context, c *httpapi.Client) (history.Op, error) {
		r, created, err := c.Repay(ctx, user, req)
		var out history.Op
		if r != nil {
			out.Status, out.Created, out.LogIndex = r.Status, created, r.Index
		}
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeOverpayment {
			out.Status = api.RepaymentRefused
		}
		return out, err
	})
}

func (w *Worker) write(ctx context.Context, base history.Op, send func(context.Context, *httpapi.Client) (history.Op, error)) Result {
	max := w.MaxAttempts
	if max == 0 {
		max = 12
	}
	nodes := w.Env.Nodes
	backoff := 50 * time.Millisecond
	for attempt := 1; attempt <= max && ctx.Err() == nil; attempt++ {
		node := nodes[(w.Home+attempt-1)%len(nodes)]
		inv := base
		inv.Type, inv.Node, inv.Attempt = history.Invoke, node.ID, attempt
		w.Env.Rec.Add(inv)
		got, err := send(ctx, node.API)
		done := inv
		done.Status, done.Created, done.LogIndex = got.Status, got.Created, got.LogIndex
		done.Error = httpapi.Code(err)
		if err != nil {
			done.Message = trim(err.Error())
		}
		switch httpapi.Classify(err) {
		case httpapi.Applied:
			done.Type = history.OK
			w.Env.Rec.Add(done)
			return Result{Acked: true, Status: got.Status, LogIndex: got.LogIndex}
		case httpapi.NotApplied:
			done.Type = history.Fail
		default:
			done.Type = history.Info
		}
		w.Env.Rec.Add(done)
		if !httpapi.Retryable(err) {
			return Result{}
		}
		sleep := backoff/2 + time.Duration(w.Rng.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, time.Second)
	}
	return Result{}
}

// Read reads an account once and records it. A failed read changes
// nothing, so it is recorded as fail whatever the error.
func (w *Worker) Read(ctx context.Context, user uint64, stale bool) (*api.Account, bool) {
	node := w.Env.Nodes[w.Home]
	if stale {
		node = w.Env.Nodes[w.Rng.IntN(len(w.Env.Nodes))]
	}
	inv := history.Op{Type: history.Invoke, Process: w.Process, F: history.FRead, Workload: w.Workload, User: user, Stale: stale, Node: node.ID, Zone: w.Env.zoneOf(user)}
	w.Env.Rec.Add(inv)
	a, err := node.API.GetAccount(ctx, user, stale)
	done := inv
	if err != nil {
		done.Type, done.Error, done.Message = history.Fail, httpapi.Code(err), trim(err.Error())
		w.Env.Rec.Add(done)
		if httpapi.Code(err) == "transport" || httpapi.Retryable(err) {
			w.Home = (w.Home + 1) % len(w.Env.Nodes)
		}
		return nil, false
	}
	done.Type, done.Account = history.OK, accountOf(a)
	w.Env.Rec.Add(done)
	return a, true
}

func accountOf(a *api.Account) *history.Account {
	return &history.Account{CreditLimit: a.CreditLimit, Used: a.Used, Pending: a.Pending, Accepted: a.Accepted, Repaid: a.Repaid}
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// setupAccounts creates users with limit through any node, retrying until
// each is acknowledged or ctx ends, and records the puts (process -2).
func setupAccounts(ctx context.Context, env *Env, workload string, users []uint64, limit int64) error {
	return setupAccountsAs(ctx, env, workload, users, limit, -2)
}

// setupAccountsAs is setupAccounts recorded as process.
func setupAccountsAs(ctx context.Context, env *Env, workload string, users []uint64, limit int64, process int) error {
	for i, u := range users {
		var last error
		for attempt := 0; ; attempt++ {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("create account %d: %w (last error: %v)", u, err, last)
			}
			node := env.Nodes[(i+attempt)%len(env.Nodes)]
			inv := history.Op{Type: history.Invoke, Process: process, F: history.FPut, Workload: workload, User: u, Amount: limit, Node: node.ID}
			env.Rec.Add(inv)
			a, err := node.API.PutAccount(ctx, u, limit)
			done := inv
			if err == nil {
				done.Type, done.Account = history.OK, accountOf(a)
				env.Rec.Add(done)
				break
			}
			last = err
			done.Type, done.Error, done.Message = history.Info, httpapi.Code(err), trim(err.Error())
			env.Rec.Add(done)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// userStride spaces a workload's users 37 ids apart, so that their shards
// (id mod 100) fall into every third of the shard range and so into every
// zone of a 3-zone cluster.
const userStride = 37

func userRange(base uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + userStride*uint64(i)
	}
	return out
}
