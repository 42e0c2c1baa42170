package checker

import (
	"slices"
	"testing"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// schedHistory builds a scheduler history: users 1 (owes 100), 2 (owes 60
// after repaying 40), 3 (repaid its 100 in full) and 4 (no bill); runs of
// the three jobs one after another, each seen done; and final reads as a
// correct server leaves them. Tests change it through the hooks.
type schedHistory struct {
	ops []history.Op
}

const schedCycle = "202611"

func (h *schedHistory) add(op history.Op) {
	op.Index = len(h.ops)
	op.Time = int64(len(h.ops)) * 1000
	if op.Workload == "" {
		op.Workload = "sched"
	}
	h.ops = append(h.ops, op)
}

// pair adds an invoke and its completion of type t.
func (h *schedHistory) pair(in history.Op, t history.Type, out func(*history.Op)) {
	in.Type = history.Invoke
	h.add(in)
	c := in
	c.Type = t
	if out != nil {
		out(&c)
	}
	h.add(c)
}

func (h *schedHistory) setup() {
	for u := uint64(1); u <= 4; u++ {
		h.pair(history.Op{Process: -2, F: history.FPut, User: u}, history.OK, nil)
	}
	for u := uint64(1); u <= 3; u++ {
		h.pair(history.Op{Process: -2, F: history.FPay, User: u, Key: "sched-bill", Amount: 100}, history.OK, func(o *history.Op) { o.Status = "accepted" })
	}
	h.pair(history.Op{Process: -2, F: history.FRepay, User: 2, Key: "sched-prepay", Amount: 40}, history.OK, func(o *history.Op) { o.Status = "applied" })
	h.pair(history.Op{Process: -2, F: history.FRepay, User: 3, Key: "sched-prepay", Amount: 100}, history.OK, func(o *history.Op) { o.Status = "applied" })
}

// run adds a run of job with id, started and then read done (or, when
// done is false, read still running).
func (h *schedHistory) run(id uint64, job string, done bool) {
	h.pair(history.Op{Process: 0, F: history.FRunStart, Job: job, Cycle: schedCycle}, history.OK, func(o *history.Op) {
		o.RunID, o.Run = id, &history.Run{State: "running"}
	})
	state := "done"
	if !done {
		state = "running"
	}
	h.pair(history.Op{Process: 0, F: history.FRunRead, Job: job, Cycle: schedCycle, RunID: id}, history.OK, func(o *history.Op) {
		o.Run = &history.Run{State: state, UsersDone: 3, UsersTotal: 3}
	})
}

// read is user u's final read as a correct server leaves it.
func read(u uint64) history.Op {
	op := history.Op{Process: -3, F: history.FSchedRead, User: u, Cycle: schedCycle, Account: &history.Account{}}
	note := func(job string, amount int64) history.Notification {
		return history.Notification{Job: job, Cycle: schedCycle, Amount: amount, Index: 10}
	}
	switch u {
	case 1:
		op.Bill = &history.Bill{Principal: 100, Paid: 100, Statement: 100}
		op.Notifications = []history.Notification{note("statement", 100), note("reminder", 100)}
		op.Debit = &history.Repayment{Key: DebitKey(schedCycle, 1), Amount: 100, Status: "applied"}
		op.Account.Accepted, op.Account.Repaid = 100, 100
	case 2:
		op.Bill = &history.Bill{Principal: 100, Paid: 100, Statement: 60}
		op.Notifications = []history.Notification{note("statement", 60), note("reminder", 60)}
		op.Debit = &history.Repayment{Key: DebitKey(schedCycle, 2), Amount: 60, Status: "applied"}
		op.Account.Accepted, op.Account.Repaid = 100, 100
	case 3:
		op.Bill = &history.Bill{Principal: 100, Paid: 100}
		op.Notifications = []history.Notification{note("statement", 0)}
		op.Account.Accepted, op.Account.Repaid = 100, 100
	}
	return op
}

func TestSched(t *testing.T) {
	tests := []struct {
		name string
		// runs replaces the three runs done in order.
		runs func(h *schedHistory)
		// change alters the final reads (by user) before they are added.
		change func(reads map[uint64]*history.Op)
		// want is the anomaly expected, "" for a valid history.
		want    string
		unknown bool
	}{
		{name: "a clean history is valid"},
		{
			name: "a second round of runs that changed nothing is valid",
			runs: func(h *schedHistory) {
				for i, job := range SchedJobs {
					h.run(uint64(i+1), job, true)
					h.run(uint64(i+4), job, true)
				}
			},
		},
		{
			name:   "a due user without a statement",
			change: func(r map[uint64]*history.Op) { r[1].Notifications = r[1].Notifications[1:] },
			want:   MissingStatement,
		},
		{
			name: "a statement written twice",
			change: func(r map[uint64]*history.Op) {
				r[3].Notifications = append(r[3].Notifications, r[3].Notifications[0])
			},
			want: DuplicateStatement,
		},
		{
			name:   "an unpaid user without a reminder",
			change: func(r map[uint64]*history.Op) { r[2].Notifications = r[2].Notifications[:1] },
			want:   MissingReminder,
		},
		{
			name: "a reminder written twice",
			change: func(r map[uint64]*history.Op) {
				r[1].Notifications = append(r[1].Notifications, r[1].Notifications[1])
			},
			want: DuplicateReminder,
		},
		{
			name: "a reminder of a bill paid before the runs",
			change: func(r map[uint64]*history.Op) {
				r[3].Notifications = append(r[3].Notifications, history.Notification{Job: "reminder", Cycle: schedCycle})
			},
			want: UnexpectedNotification,
		},
		{
			name: "a statement for a user without a bill",
			change: func(r map[uint64]*history.Op) {
				r[4].Notifications = []history.Notification{{Job: "statement", Cycle: schedCycle}}
			},
			want: UnexpectedNotification,
		},
		{
			name: "a notification of another cycle",
			change: func(r map[uint64]*history.Op) {
				r[1].Notifications = append(r[1].Notifications, history.Notification{Job: "statement", Cycle: "202610"})
			},
			want: UnexpectedNotification,
		},
		{
			name:   "an unpaid bill not debited",
			change: func(r map[uint64]*history.Op) { r[1].Debit, r[1].Account.Repaid = nil, 0 },
			want:   MissingDebit,
		},
		{
			name: "a debit of less than owed",
			change: func(r map[uint64]*history.Op) {
				r[2].Debit.Amount, r[2].Bill.Outstanding, r[2].Account.Repaid = 30, 30, 70
			},
			want: MissingDebit,
		},
		{
			name:   "money repaid twice",
			change: func(r map[uint64]*history.Op) { r[1].Account.Repaid = 200 },
			want:   DoubleDebit,
		},
		{
			name: "a bill paid before the runs debited",
			change: func(r map[uint64]*history.Op) {
				r[3].Debit = &history.Repayment{Key: DebitKey(schedCycle, 3), Amount: 100, Status: "applied"}
			},
			want: UnexpectedDebit,
		},
		{
			name: "a user without a bill debited",
			change: func(r map[uint64]*history.Op) {
				r[4].Debit = &history.Repayment{Key: DebitKey(schedCycle, 4), Amount: 1, Status: "applied"}
			},
			want: UnexpectedDebit,
		},
		{
			name: "a run never seen done",
			runs: func(h *schedHistory) {
				h.run(1, "statement", true)
				h.run(2, "reminder", true)
				h.run(3, "autodebit", false)
			},
			want: RunIncomplete,
		},
		{
			name: "a job never started",
			runs: func(h *schedHistory) {
				h.run(1, "statement", true)
				h.run(2, "reminder", true)
			},
			change: func(r map[uint64]*history.Op) {
				for u := uint64(1); u <= 2; u++ {
					r[u].Debit, r[u].Account.Repaid = nil, 40*int64(u-1)
				}
			},
			want: RunIncomplete,
		},
		{
			name: "a missing reminder is allowed when the debit may have paid the bill first",
			runs: func(h *schedHistory) {
				h.run(1, "statement", true)
				h.run(3, "autodebit", true)
				h.run(2, "reminder", true)
			},
			change: func(r map[uint64]*history.Op) { r[1].Notifications = r[1].Notifications[:1] },
		},
		{
			name:    "a user not read makes the verdict unknown",
			change:  func(r map[uint64]*history.Op) { delete(r, 2) },
			unknown: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &schedHistory{}
			h.setup()
			if tt.runs != nil {
				tt.runs(h)
			} else {
				for i, job := range SchedJobs {
					h.run(uint64(i+1), job, true)
				}
			}
			reads := map[uint64]*history.Op{}
			for u := uint64(1); u <= 4; u++ {
				op := read(u)
				reads[u] = &op
			}
			if tt.change != nil {
				tt.change(reads)
			}
			for u := uint64(1); u <= 4; u++ {
				if op := reads[u]; op != nil {
					h.pair(*op, history.OK, nil)
				}
			}
			r := Sched{Workload: "sched"}.Check(h.ops)
			switch {
			case tt.unknown:
				if r.Verdict != Unknown {
					t.Fatalf("verdict %s, want unknown: %v %v", r.Verdict, r.Examples, r.Unchecked)
				}
			case tt.want == "":
				if r.Verdict != Valid {
					t.Fatalf("verdict %s, want valid: %v %v", r.Verdict, r.Examples, r.Unchecked)
				}
				if r.Stats["users"] != 4 || r.Stats["due-owing"] != 2 || r.Stats["due-paid"] != 1 || r.Stats["not-due"] != 1 {
					t.Errorf("stats %v", r.Stats)
				}
			default:
				if r.Verdict != Invalid || !r.Has(tt.want) {
					t.Fatalf("verdict %s with %v, want %s: %v", r.Verdict, r.AnomalyKinds(), tt.want, r.Examples)
				}
				if i := slices.IndexFunc(r.Examples, func(a Anomaly) bool { return a.Kind == tt.want }); i < 0 || r.Examples[i].Detail == "" {
					t.Errorf("no counter-example of %s: %v", tt.want, r.Examples)
				}
			}
		})
	}
}
