package checker

import (
	"fmt"
	"slices"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Anomalies of batch runs (guarantee 6 of docs/DESIGN.md).
const (
	MissingStatement       = "missing-statement"       // a due user has no statement for the cycle
	DuplicateStatement     = "duplicate-statement"     // a user has more than one
	MissingReminder        = "missing-reminder"        // an unpaid due user has no reminder
	DuplicateReminder      = "duplicate-reminder"      // a user has more than one
	UnexpectedNotification = "unexpected-notification" // a user not due, or a paid bill, was notified
	MissingDebit           = "missing-debit"           // an unpaid bill was not debited in full
	DoubleDebit            = "double-debit"            // more was debited than was owed
	UnexpectedDebit        = "unexpected-debit"        // a bill with nothing owed was debited
	RunIncomplete          = "run-incomplete"          // a run was not seen done within the bound
)

// SchedJobs are the batch jobs whose runs the Sched checker expects.
var SchedJobs = []string{"statement", "reminder", "autodebit"}

// DebitKey is the idempotency key of user's auto-debit repayment for cycle
// (YYYYMM), as the server derives it.
func DebitKey(cycle string, user uint64) string {
	return fmt.Sprintf("autodebit-%s-%d", cycle, user)
}

// Sched checks the scheduler workload's history: the users are the
// workload's put-account entries; a user is due when some payment of it
// was acknowledged before the runs, and owes its payments less its
// acknowledged repayments. Against each user's final sched-read:
//
//   - a due user has exactly one statement for the cycle, others none;
//   - a due user that owes has exactly one reminder for the cycle, and a
//     user that owes nothing none (the server records a reminder of a paid
//     bill without notifying: fsm/notify.go). When no reminder run was seen
//     done before the first auto-debit run started, the debit may have
//     paid the bill first, and a missing reminder is only counted
//     (reminder-after-debit);
//   - a due user that owes has one applied auto-debit repayment (key
//     autodebit-CYCLE-USER) of what it owed, its bill is paid and its
//     account's repaid total is its repayments plus that debit; a user that
//     owes nothing has no debit and nothing more repaid;
//   - each statement and reminder notification, and the bill's statement
//     amount, is what the user owed at the cycle's statement (its payments
//     less its repayments: nothing else moves a bill before the runs), and
//     the account's repaid total is exactly the user's own repayments plus
//     the debit (wrong-amount, missing-debit);
//   - no notification of another job or cycle;
//   - every run started was seen done (run-incomplete otherwise), and each
//     of SchedJobs was started.
//
// A user whose payments or repayments may or may not have applied is
// skipped (stat uncertain); a user without a final read, and a history
// without users or runs, make the verdict unknown.
type Sched struct {
	// Workload selects the history entries checked; "" checks all.
	Workload string
}

// Name implements Checker.
func (Sched) Name() string { return "sched" }

// schedUser is what the history says a user owed before the runs.
type schedUser struct {
	paid, repaid int64
	uncertain    bool
}

// Check implements Checker.
func (c Sched) Check(ops []history.Op) *Result {
	r := newResult(c.Name())
	mine := func(op history.Op) bool { return c.Workload == "" || op.Workload == c.Workload }
	us := map[uint64]*schedUser{}
	for _, op := range ops {
		if op.F == history.FPut && op.Type == history.OK && mine(op) {
			us[op.User] = &schedUser{}
		}
	}
	for _, w := range collectWrites(ops, history.FPay, c.Workload) {
		if u := us[w.user]; u != nil {
			switch {
			case w.acked != nil && paid(w.status()):
				u.paid += w.amount
			case w.acked == nil && w.maybe:
				u.uncertain = true
			}
		}
	}
	for _, w := range collectWrites(ops, history.FRepay, c.Workload) {
		if u := us[w.user]; u != nil {
			switch {
			case w.acked != nil && w.status() == "applied":
				u.repaid += w.amount
			case w.acked == nil && w.maybe:
				u.uncertain = true
			}
		}
	}
	cycle, strict := c.checkRuns(r, ops, mine)
	if cycle == "" {
		r.unknown("no run was started: no cycle to check")
		return r
	}
	if !strict {
		r.Notes = append(r.Notes, "no reminder run was seen done before the first auto-debit run began: a missing reminder of a bill the debit paid is allowed")
	}
	finals := map[uint64]history.Op{}
	for _, op := range ops {
		if op.F == history.FSchedRead && op.Type == history.OK && mine(op) {
			finals[op.User] = op
		}
	}
	r.Stats["users"] = len(us)
	if len(us) == 0 {
		r.unknown("no account was set up: nothing to check")
	}
	for _, u := range users(us) {
		su := us[u]
		if su.uncertain {
			r.Stats["uncertain"]++
			continue
		}
		fr, ok := finals[u]
		if !ok {
			r.unknown("no final read of user %d", u)
			continue
		}
		c.checkUser(r, u, su, fr, cycle, strict)
	}
	return r
}

// checkRuns checks that every run started was seen done and that each job
// was started; it returns the runs' cycle and whether a reminder run was
// seen done before the first auto-debit run began.
func (c Sched) checkRuns(r *Result, ops []history.Op, mine func(history.Op) bool) (cycle string, strict bool) {
	type run struct {
		id    uint64
		job   string
		start history.Op // the ok run-start
		last  *history.Run
		done  int64 // history time it was first seen done, -1 if never
	}
	byID := map[uint64]*run{}
	var order []*run
	firstDebit := int64(-1)
	for _, p := range history.Pairs(ops) {
		in := p.Invoke
		if in.F != history.FRunStart || !mine(in) {
			continue
		}
		cycle = in.Cycle
		if in.Job == "autodebit" && (firstDebit < 0 || in.Time < firstDebit) {
			firstDebit = in.Time
		}
		if p.Type() != history.OK {
			continue
		}
		id := p.Complete.RunID
		if byID[id] == nil {
			byID[id] = &run{id: id, job: in.Job, start: *p.Complete, done: -1}
			order = append(order, byID[id])
		}
	}
	for _, op := range ops {
		if (op.F != history.FRunRead && op.F != history.FRunStart) || op.Type != history.OK || op.Run == nil || !mine(op) {
			continue
		}
		rn := byID[op.RunID]
		if rn == nil {
			continue
		}
		rn.last = op.Run
		if op.Run.State == "done" && rn.done < 0 {
			rn.done = op.Time
		}
	}
	strict = true
	if firstDebit >= 0 {
		strict = slices.ContainsFunc(order, func(rn *run) bool { return rn.job == "reminder" && rn.done >= 0 && rn.done < firstDebit })
	}
	r.Stats["runs"] = len(order)
	for _, rn := range order {
		if rn.done >= 0 {
			r.Stats["runs-done"]++
			continue
		}
		seen := "never read"
		if rn.last != nil {
			seen = fmt.Sprintf("last seen %s with %d/%d users and %d/%d tasks done, %d/%d ranges generated",
				rn.last.State, rn.last.UsersDone, rn.last.UsersTotal, rn.last.TasksDone, rn.last.TasksTotal, rn.last.Generated, rn.last.Ranges)
		}
		r.add(Anomaly{Kind: RunIncomplete, Key: rn.job, Ops: []int{rn.start.Index},
			Detail: fmt.Sprintf("run %d of %s started at %s was not seen done: %s", rn.id, rn.job, fmtTime(rn.start.Time), seen)})
	}
	for _, job := range SchedJobs {
		if cycle != "" && !slices.ContainsFunc(order, func(rn *run) bool { return rn.job == job }) {
			r.add(Anomaly{Kind: RunIncomplete, Key: job, Detail: fmt.Sprintf("no run of %s was started", job)})
		}
	}
	return cycle, strict
}

// checkUser checks one user's final read.
func (c Sched) checkUser(r *Result, u uint64, su *schedUser, fr history.Op, cycle string, strict bool) {
	due := su.paid > 0
	owed := su.paid - su.repaid
	bad := func(kind, format string, args ...any) {
		r.add(Anomaly{Kind: kind, User: u, Ops: []int{fr.Index}, Detail: fmt.Sprintf(format, args...)})
	}
	switch {
	case !due:
		r.Stats["not-due"]++
	case owed > 0:
		r.Stats["due-owing"]++
	default:
		r.Stats["due-paid"]++
	}
	count := map[string]int{}
	for _, n := range fr.Notifications {
		r.Stats["notifications"]++
		if n.Cycle != cycle || (n.Job != "statement" && n.Job != "reminder") {
			bad(UnexpectedNotification, "a %s notification for cycle %s (log index %d); the runs were of %s", n.Job, n.Cycle, n.Index, cycle)
			continue
		}
		count[n.Job]++
		if due && n.Amount != owed {
			bad(WrongAmount, "%s of %d for %s (log index %d), but the user owed %d at the cycle's statement", n.Job, n.Amount, cycle, n.Index, owed)
		}
	}
	if b := fr.Bill; due && b != nil && count["statement"] > 0 && b.Statement != owed {
		bad(WrongAmount, "the bill of %s says its statement was %d, but the user owed %d at the cycle's statement", cycle, b.Statement, owed)
	}
	if !due {
		if len(fr.Notifications) > 0 {
			bad(UnexpectedNotification, "%d notifications, but the user has no bill for %s", len(fr.Notifications), cycle)
		}
		if fr.Debit != nil {
			bad(UnexpectedDebit, "auto-debit %s of %d (%s), but the user has no bill for %s", fr.Debit.Key, fr.Debit.Amount, fr.Debit.Status, cycle)
		}
		return
	}
	switch n := count["statement"]; {
	case n == 0:
		bad(MissingStatement, "no statement for %s (bill %s)", cycle, billString(fr.Bill))
	case n > 1:
		bad(DuplicateStatement, "%d statements for %s", n, cycle)
	}
	switch n := count["reminder"]; {
	case owed == 0 && n > 0:
		bad(UnexpectedNotification, "%d reminders for %s, but the bill was paid before the runs", n, cycle)
	case n > 1:
		bad(DuplicateReminder, "%d reminders for %s", n, cycle)
	case n == 0 && owed > 0 && strict:
		bad(MissingReminder, "no reminder for %s, owing %d", cycle, owed)
	case n == 0 && owed > 0:
		r.Stats["reminder-after-debit"]++
	}
	repaid := int64(-1)
	if fr.Account != nil {
		repaid = fr.Account.Repaid
	}
	if owed == 0 {
		if fr.Debit != nil {
			bad(UnexpectedDebit, "auto-debit %s of %d (%s), but the bill was paid before the runs", fr.Debit.Key, fr.Debit.Amount, fr.Debit.Status)
		}
		if repaid > su.repaid {
			bad(DoubleDebit, "repaid %d in all, above the %d the user repaid itself; nothing was owed", repaid, su.repaid)
		}
		return
	}
	if fr.Debit == nil || fr.Debit.Status != "applied" {
		bad(MissingDebit, "no applied auto-debit %s (%+v), owing %d", DebitKey(cycle, u), fr.Debit, owed)
		return
	}
	r.Stats["debits"]++
	switch {
	case fr.Debit.Amount > owed || repaid > su.repaid+fr.Debit.Amount:
		bad(DoubleDebit, "auto-debit of %d, repaid %d in all, owing %d after the user's own %d", fr.Debit.Amount, repaid, owed, su.repaid)
	case fr.Debit.Amount < owed || (fr.Bill != nil && fr.Bill.Outstanding > 0):
		bad(MissingDebit, "auto-debit of %d, owing %d; bill %s", fr.Debit.Amount, owed, billString(fr.Bill))
	case repaid >= 0 && repaid < su.repaid+fr.Debit.Amount:
		bad(MissingDebit, "auto-debit of %d applied, yet the account's repaid total is %d, not the user's own %d plus the debit", fr.Debit.Amount, repaid, su.repaid)
	}
}

func billString(b *history.Bill) string {
	if b == nil {
		return "none"
	}
	return fmt.Sprintf("principal %d, paid %d, outstanding %d, statement %d", b.Principal, b.Paid, b.Outstanding, b.Statement)
}
