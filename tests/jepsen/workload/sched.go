package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Sched is the batch-run workload (guarantee 6 of docs/DESIGN.md: every due user
// gets exactly one statement, reminder and auto-debit per cycle). Setup
// gives Users accounts; user i is, by i mod 10, not due (9: no bill), due
// with a bill repaid in full before the runs (8: a statement, no reminder,
// no debit), due with a bill half repaid (7), or due and unpaid. One worker
// then drives runs for the current cycle, one after another, while the
// nemesis works: statement, reminder, autodebit, then statement again
// (which must change nothing), and reminder, autodebit, statement … again
// while time remains; it records every start and every read of a run's
// progress. The runs are slowed to Window tasks at a time, so that faults
// land mid-run. Final waits, up to RunTimeout, for the run the run phase
// left going and for the rest of the first four (which it starts), then
// reads every user's account, bill, outbox and auto-debit repayment through
// linearizable reads.
//
// The scheduler lives in the meta group: the workload needs a multi-zone
// cluster, and it runs alone (its runs reach every user with a bill, and
// auto-debits would repay the other workloads' accounts).
type Sched struct {
	Users int
	// Window is the scheduler's tasks at a time, for notify and bank alike
	// (config sched/window/notify and sched/window/bank).
	Window int
	// RunTimeout bounds, in Final, the wait for runs to complete after the
	// faults; a run still going then is checked as run-incomplete.
	RunTimeout time.Duration
	// LeaseTTL is the servers' --sched-lease-ttl: how long a task held by a
	// killed or paused worker waits before another takes it.
	LeaseTTL time.Duration

	cycle string
	cl    *client.Client
	once  sync.Once
	// next counts the runs of the plan (jobAt) that completed;
	// current is the run started and not yet seen completed, 0 if none.
	// They pass from the driving worker to Final, which runs after it.
	next    int
	current uint64
}

const schedBase = 4_000_000

// schedPlan is the runs made whatever the time, in order: a round of the
// three jobs (the reminders before the auto-debits pay the bills), then the
// statements again, which must change nothing. While time remains the run
// phase goes on with the reminders, auto-debits and statements again, in
// turn.
var schedPlan = []string{"statement", "reminder", "autodebit", "statement"}

// jobAt is the job of the plan's i-th run.
func jobAt(i int) string {
	if i < len(schedPlan) {
		return schedPlan[i]
	}
	return schedPlan[1+(i-len(schedPlan))%3]
}

// runRunning is a run's state while it is going on (api.Run.State).
const runRunning = "running"

// Name implements Workload.
func (s *Sched) Name() string { return "sched" }

func (s *Sched) users() []uint64 { return userRange(schedBase, s.Users) }

// schedKind is what user i of the workload has before the runs.
type schedKind int

const (
	unpaid schedKind = iota
	halfPaid
	fullyPaid
	notDue
)

func kindOf(i int) schedKind {
	switch i % 10 {
	case 9:
		return notDue
	case 8:
		return fullyPaid
	case 7:
		return halfPaid
	}
	return unpaid
}

// ServerArgs implements ServerConfigurer.
func (s *Sched) ServerArgs() []string {
	return []string{"--sched-lease-ttl", s.LeaseTTL.String()}
}

// Setup implements Workload: accounts, a payment each for the due users,
// posted into the cycle's bill, then the repayments of the paid ones, and
// the scheduler's windows.
func (s *Sched) Setup(ctx context.Context, env *Env) error {
	if env.ZoneOf == nil {
		return errors.New("the sched workload needs the scheduler, which runs in the meta group of a multi-zone cluster: use --zones 3")
	}
	var addrs []string
	for _, n := range env.Nodes {
		addrs = append(addrs, n.API.Addr)
	}
	cl, err := client.New(addrs, append(slices.Clone(env.ClientOptions), client.WithTimeout(3*time.Second), client.WithMaxRetries(4),
		client.WithBackoff(50*time.Millisecond, 500*time.Millisecond))...)
	if err != nil {
		return err
	}
	s.cl = cl
	s.cycle = time.Now().UTC().Format("200601")
	users := s.users()
	// The users are set up by setupWorkers goroutines, each recorded as a
	// process of its own (-10, -11, …).
	var wg sync.WaitGroup
	errs := make([]error, setupWorkers)
	for g := range setupWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = s.setupUsers(ctx, env, g, users)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	window := fmt.Sprintf("00:00-24:00=%d", s.Window)
	for _, key := range []string{"sched/window/notify", "sched/window/bank"} {
		if _, err := cl.SetConfig(ctx, key, window, 0); err != nil {
			return fmt.Errorf("set %s: %w", key, err)
		}
	}
	env.Logf("workload sched: %d users set up for cycle %s, window %s", len(users), s.cycle, window)
	return nil
}

// setupWorkers is how many goroutines set the users up.
const setupWorkers = 8

// setupUsers sets up every setupWorkers-th user from g: its account, the
// payment that makes its bill, and, once the bill holds it, the repayment
// of its kind.
func (s *Sched) setupUsers(ctx context.Context, env *Env, g int, all []uint64) error {
	var idx []int
	var users []uint64
	for i := g; i < len(all); i += setupWorkers {
		idx, users = append(idx, i), append(users, all[i])
	}
	w := &Worker{Env: env, Process: -10 - g, Home: g % len(env.Nodes), Rng: NewWorker(env, s.Name(), g).Rng, Workload: s.Name(), MaxAttempts: 20}
	if err := setupAccountsAs(ctx, env, s.Name(), users, 1_000_000, w.Process); err != nil {
		return err
	}
	for j, i := range idx {
		if kindOf(i) == notDue {
			continue
		}
		if r := w.Pay(ctx, users[j], api.PayRequest{Key: "sched-bill", Amount: s.amount(i), Merchant: "sched"}, false); !r.Acked {
			return fmt.Errorf("pay for user %d: not acknowledged in %d attempts (%v)", users[j], w.MaxAttempts, ctx.Err())
		}
	}
	for j, i := range idx {
		if kindOf(i) == notDue {
			continue
		}
		if err := s.waitPosted(ctx, users[j], s.amount(i)); err != nil {
			return err
		}
		amount := int64(0)
		switch kindOf(i) {
		case fullyPaid:
			amount = s.amount(i)
		case halfPaid:
			amount = s.amount(i) / 2
		}
		if amount > 0 {
			if r := w.Repay(ctx, users[j], api.RepayRequest{Key: "sched-prepay", Amount: amount}); !r.Acked || r.Status != api.RepaymentApplied {
				return fmt.Errorf("repay for user %d: %+v (%v)", users[j], r, ctx.Err())
			}
		}
	}
	return nil
}

func (s *Sched) amount(i int) int64 { return 1000 + int64(i) }

// waitPosted polls user's bill until the payment of amount is in it.
func (s *Sched) waitPosted(ctx context.Context, user uint64, amount int64) error {
	for {
		b, err := s.cl.GetBill(ctx, user, s.cycle)
		if err == nil && b.Principal == amount {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bill %s of user %d not posted (last: %+v, %v): %w", s.cycle, user, b, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Run implements Workload: the first worker drives the runs, the others
// have nothing to do.
func (s *Sched) Run(ctx context.Context, w *Worker) {
	driver := false
	s.once.Do(func() { driver = true })
	if !driver {
		return
	}
	// A run begun before Stop is awaited in the grace that ctx gives;
	// Final waits for the rest.
	for w.Running(ctx) {
		if !s.step(ctx, w, time.Time{}) {
			sleepCtx(ctx, time.Second)
		}
	}
}

// step starts the plan's next run (or picks up the current one) and waits
// for it until ctx ends or deadline (zero: none); it reports whether the
// run completed.
func (s *Sched) step(ctx context.Context, w *Worker, deadline time.Time) bool {
	job := jobAt(s.next)
	if s.current == 0 {
		id, ok := s.start(ctx, w, job)
		if !ok {
			return false
		}
		s.current = id
	}
	return s.await(ctx, w, s.current, job, deadline)
}

// start starts a run of job and records it; a start whose outcome is
// unknown is retried (a retried start finds the run the first one began).
func (s *Sched) start(ctx context.Context, w *Worker, job string) (uint64, bool) {
	for attempt := 1; attempt <= 5 && ctx.Err() == nil; attempt++ {
		inv := history.Op{Type: history.Invoke, Process: w.Process, F: history.FRunStart, Workload: s.Name(), Job: job, Cycle: s.cycle, Attempt: attempt}
		w.Env.Rec.Add(inv)
		r, created, err := s.cl.StartRun(ctx, job, s.cycle)
		done := inv
		if err == nil {
			done.Type, done.RunID, done.Run, done.Created = history.OK, r.ID, runOf(r), created
			w.Env.Rec.Add(done)
			w.Env.Logf("workload sched: run %d of %s started (run %d of the plan)", r.ID, job, s.next+1)
			return r.ID, true
		}
		done.Type, done.Error, done.Message = history.Info, clientCode(err), trim(err.Error())
		w.Env.Rec.Add(done)
		sleepCtx(ctx, time.Duration(attempt)*200*time.Millisecond)
	}
	return 0, false
}

// await polls run id every half second, recording each read, until it is
// no longer running, ctx ends or deadline passes. It reports whether the
// run completed; then the plan moves on.
func (s *Sched) await(ctx context.Context, w *Worker, id uint64, job string, deadline time.Time) bool {
	for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
		inv := history.Op{Type: history.Invoke, Process: w.Process, F: history.FRunRead, Workload: s.Name(), Job: job, Cycle: s.cycle, RunID: id}
		w.Env.Rec.Add(inv)
		r, err := s.cl.GetRun(ctx, id)
		done := inv
		if err != nil {
			done.Type, done.Error, done.Message = history.Fail, clientCode(err), trim(err.Error())
			w.Env.Rec.Add(done)
		} else {
			done.Type, done.Run = history.OK, runOf(r)
			w.Env.Rec.Add(done)
			if r.State != runRunning {
				w.Env.Logf("workload sched: run %d of %s %s: %d/%d users, %d expired leases, %d fenced", id, job, r.State, r.UsersDone, r.UsersTotal, r.Expired, r.Fenced)
				s.current = 0
				s.next++
				return true
			}
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	return false
}

// Final implements Workload: it waits for the runs of the first rounds to
// complete (starting those not yet started), up to RunTimeout, then reads
// every user.
func (s *Sched) Final(ctx context.Context, env *Env) error {
	w := &Worker{Env: env, Process: finalProcess, Workload: s.Name()}
	deadline := time.Now().Add(s.RunTimeout)
	for (s.current != 0 || s.next < len(schedPlan)) && ctx.Err() == nil && time.Now().Before(deadline) {
		if !s.step(ctx, w, deadline) {
			sleepCtx(ctx, time.Second)
		}
	}
	var failed int
	for _, u := range s.users() {
		if !s.read(ctx, w, u) {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d users could not be read", failed, s.Users)
	}
	return nil
}

// read reads one user linearizably, up to three tries, and records it.
func (s *Sched) read(ctx context.Context, w *Worker, u uint64) bool {
	for try := 0; try < 3 && ctx.Err() == nil; try++ {
		inv := history.Op{Type: history.Invoke, Process: w.Process, F: history.FSchedRead, Workload: s.Name(), User: u, Cycle: s.cycle, Zone: w.Env.zoneOf(u)}
		w.Env.Rec.Add(inv)
		done := inv
		err := s.readUser(ctx, u, &done)
		if err == nil {
			done.Type = history.OK
			w.Env.Rec.Add(done)
			return true
		}
		done.Type, done.Error, done.Message = history.Fail, clientCode(err), trim(err.Error())
		w.Env.Rec.Add(done)
		sleepCtx(ctx, 200*time.Millisecond)
	}
	return false
}

// readUser fills op with user's account, bill, outbox and auto-debit.
func (s *Sched) readUser(ctx context.Context, u uint64, op *history.Op) error {
	a, err := s.cl.GetAccount(ctx, u)
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	op.Account = &history.Account{CreditLimit: a.CreditLimit, Used: a.Used, Pending: a.Pending, Accepted: a.Accepted, Repaid: a.Repaid}
	b, err := s.cl.GetBill(ctx, u, s.cycle)
	switch {
	case err == nil:
		op.Bill = &history.Bill{Principal: b.Principal, Paid: b.Paid, Outstanding: b.Outstanding, Statement: b.Statement}
	case !errors.Is(err, client.ErrNotFound):
		return fmt.Errorf("bill: %w", err)
	}
	list, err := s.cl.Notifications(ctx, u)
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	op.Notifications = make([]history.Notification, 0, len(list))
	for _, n := range list {
		op.Notifications = append(op.Notifications, history.Notification{Job: n.Job, Cycle: n.Cycle, Amount: n.Amount, Index: n.Index})
	}
	key := checker.DebitKey(s.cycle, u)
	rp, err := s.cl.GetRepayment(ctx, u, key)
	switch {
	case err == nil:
		op.Debit = &history.Repayment{Key: key, Amount: rp.Amount, Status: rp.Status}
	case !errors.Is(err, client.ErrNotFound):
		return fmt.Errorf("auto-debit repayment: %w", err)
	}
	return nil
}

// Checkers implements Workload.
func (s *Sched) Checkers(string) []checker.Checker {
	return []checker.Checker{checker.Sched{Workload: s.Name()}}
}

func runOf(r *client.Run) *history.Run {
	return &history.Run{State: r.State, UsersDone: r.UsersDone, UsersTotal: r.UsersTotal, TasksDone: r.TasksDone,
		TasksTotal: r.TasksTotal, Generated: r.Generated, Ranges: r.Ranges, Expired: r.Expired, Fenced: r.Fenced, Failures: r.Failures}
}

// clientCode is the API error code of a client error, "transport" when
// there was no API reply.
func clientCode(err error) string {
	var ae *client.Error
	if errors.As(err, &ae) && ae.Code != "" {
		return string(ae.Code)
	}
	return httpapi.Code(err)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
