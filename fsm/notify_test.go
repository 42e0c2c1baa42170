package fsm

import (
	"testing"

	"github.com/hashicorp/raft"
)

func notifyCmd(job string, user uint64, cycle uint32) Command {
	return Command{Type: CmdNotify, User: user, Time: t0 + 5000, Key: job, Cycle: cycle}
}

// TestSchedulerEffectsOncePerJobCycleUser: a statement and a reminder land
// once in the outbox however often the task is retried; a user without a
// bill is not due; a bill repaid before the reminder reminds nobody.
func TestSchedulerEffectsOncePerJobCycleUser(t *testing.T) {
	h := setup(t)
	for _, u := range []uint64{1, 2, 3} {
		h.one(putAcc(u, 10_000))
	}
	h.one(pay(1, "a", 300))
	h.one(pay(2, "b", 50))
	h.postAll()
	users, _ := h.f.DueUsers(1, 202611)
	if len(users) != 1 || users[0] != 1 {
		t.Fatalf("due users of shard 1: %v", users)
	}
	for i := 0; i < 3; i++ { // a retried task
		r := h.one(notifyCmd(JobStatement, 1, 202611))
		if r.Code != OK || r.Replay != (i > 0) {
			t.Fatalf("statement try %d: %+v", i, r)
		}
	}
	if r := h.one(notifyCmd(JobStatement, 3, 202611)); r.Code != NotFound {
		t.Fatalf("statement for a user without a bill: %+v", r)
	}
	h.one(repay(2, "r", 50))
	h.one(notifyCmd(JobReminder, 2, 202611))
	h.one(notifyCmd(JobReminder, 1, 202611))
	h.one(notifyCmd(JobReminder, 1, 202611))
	n1, _ := h.f.Notifications(1)
	if len(n1) != 2 || n1[0].Job != JobStatement || n1[0].Amount != 300 || n1[1].Job != JobReminder {
		t.Fatalf("outbox of user 1: %+v", n1)
	}
	if n2, _ := h.f.Notifications(2); len(n2) != 0 {
		t.Fatalf("a paid bill was reminded: %+v", n2)
	}
	b, _ := h.f.Bill(1, 202611)
	if b.Statement != 300 || b.StatementAt == "" {
		t.Fatalf("bill after the statement: %+v", b)
	}
	if r := h.one(notifyCmd("debit", 1, 202611)); r.Code != Invalid {
		t.Fatalf("unknown job: %+v", r)
	}
}

// TestEffectOnceWithinOneBatch: a statement retried in an entry that is
// applied in the same batch (one bbolt transaction) as the first is a
// replay, as it is when the entries are applied one by one; likewise a
// blacklist takes hold for writes in the same batch as the CmdFailover.
// Empty-valued keys read back as nil inside the transaction that wrote
// them, so presence is checked with a cursor (has).
func TestEffectOnceWithinOneBatch(t *testing.T) {
	h := setup(t)
	h.one(putAcc(1, 10_000))
	h.one(pay(1, "p", 300))
	h.postAll()
	var logs []*raft.Log
	for i, c := range []Command{notifyCmd(JobStatement, 1, 202611), notifyCmd(JobStatement, 1, 202611),
		{Type: CmdFailover, NodeID: "A", Epoch: 2, Amount: 50, Marks: []Mark{{User: 1}}}, repay(1, "r", 10)} {
		logs = append(logs, &raft.Log{Index: h.index + uint64(i) + 1, Type: raft.LogCommand, Data: Encode(nil, c)})
	}
	res := h.f.ApplyBatch(logs)
	if r := res[1].([]Result)[0]; r.Code != OK || !r.Replay {
		t.Fatalf("the retried statement in the same batch: %+v", r)
	}
	if r := res[3].([]Result)[0]; r.Code != Isolated {
		t.Fatalf("a repayment of a blacklisted account in the failover's batch: %+v", r)
	}
	if n, _ := h.f.Notifications(1); len(n) != 1 {
		t.Fatalf("outbox: %+v", n)
	}
}
