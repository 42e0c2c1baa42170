package fsm

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/api"
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

func delivered(at int64, refs ...NoteRef) Command {
	return Command{Type: CmdNotifyDelivered, Time: at, Notes: refs}
}

// statementsFor makes users 1..n accounts with a posted payment and a
// statement each, and returns the refs of their notifications.
func statementsFor(h *harness, n uint64) []NoteRef {
	h.t.Helper()
	var refs []NoteRef
	for u := uint64(1); u <= n; u++ {
		h.one(putAcc(u, 10_000))
		h.one(pay(u, "p", int64(100*u)))
	}
	h.postAll()
	for u := uint64(1); u <= n; u++ {
		if r := h.one(notifyCmd(JobStatement, u, 202611)); r.Code != OK {
			h.t.Fatalf("statement for %d: %+v", u, r)
		}
		refs = append(refs, NoteRef{User: u, Job: JobStatement, Cycle: 202611})
	}
	return refs
}

// TestDeliveredMarkAppliedOnce: the outbox lists its undelivered
// notifications oldest first with their idempotency keys; a delivery mark
// applies once (a repeated mark keeps the first time), takes the entry off
// the undelivered list, and shows as delivered_at.
func TestDeliveredMarkAppliedOnce(t *testing.T) {
	h := setup(t)
	refs := statementsFor(h, 3)
	und, err := h.f.Undelivered(10)
	if err != nil || len(und) != 3 || h.f.UndeliveredCount() != 3 {
		t.Fatalf("undelivered: %+v %v, count %d", und, err, h.f.UndeliveredCount())
	}
	for i, n := range und {
		if n.User != uint64(i+1) || n.Key != NotificationKey(JobStatement, 202611, n.User) || n.DeliveredAt != "" {
			t.Fatalf("undelivered %d: %+v", i, n)
		}
	}
	if und[0].Key != "statement-202611-1" {
		t.Fatalf("key %q", und[0].Key)
	}
	if und, _ := h.f.Undelivered(2); len(und) != 2 || und[1].User != 2 {
		t.Fatalf("a limit of 2: %+v", und)
	}

	first := t0 + 10_000
	r := h.one(delivered(first, refs[0], refs[2], refs[0], NoteRef{User: 9, Job: JobStatement, Cycle: 202611}, NoteRef{User: 2, Job: JobReminder, Cycle: 202611}))
	if r.Code != OK || r.Delivered != 2 {
		t.Fatalf("mark 1 and 3 (1 twice, two unknown): %+v", r)
	}
	if r := h.one(delivered(first+5000, refs[0])); r.Code != OK || r.Delivered != 0 {
		t.Fatalf("a repeated mark: %+v", r)
	}
	und, _ = h.f.Undelivered(10)
	if len(und) != 1 || und[0].User != 2 || h.f.UndeliveredCount() != 1 {
		t.Fatalf("undelivered after the marks: %+v, count %d", und, h.f.UndeliveredCount())
	}
	n1, _ := h.f.Notifications(1)
	if len(n1) != 1 || n1[0].DeliveredAt != api.FormatTime(first) {
		t.Fatalf("user 1's outbox: %+v", n1)
	}
	if n2, _ := h.f.Notifications(2); len(n2) != 1 || n2[0].DeliveredAt != "" {
		t.Fatalf("user 2's outbox: %+v", n2)
	}
	h.one(delivered(first+9000, refs[1]))
	if und, _ := h.f.Undelivered(10); len(und) != 0 || h.f.UndeliveredCount() != 0 {
		t.Fatalf("all delivered, still listed: %+v", und)
	}
}

// TestDeliveredMarksSurviveSnapshotAndReplay: a snapshot carries delivery
// state; two replicas applying the same log in different batches end
// byte-identical; a restart that replays the log changes nothing.
func TestDeliveredMarksSurviveSnapshotAndReplay(t *testing.T) {
	src := setup(t)
	refs := statementsFor(src, 4)
	src.one(delivered(t0+10_000, refs[1], refs[3]))
	sink := snapshotBytes(t, src.f)
	dst := setup(t)
	if err := dst.f.Restore(nopCloser{bytes.NewReader(sink)}); err != nil {
		t.Fatal(err)
	}
	und, _ := dst.f.Undelivered(10)
	if len(und) != 2 || und[0].User != 1 || und[1].User != 3 || dst.f.UndeliveredCount() != 2 {
		t.Fatalf("restored undelivered: %+v, count %d", und, dst.f.UndeliveredCount())
	}
	if n, _ := dst.f.Notifications(4); len(n) != 1 || n[0].DeliveredAt != api.FormatTime(t0+10_000) {
		t.Fatalf("restored outbox of user 4: %+v", n)
	}

	// The same log in batches of two on another replica.
	other := setup(t)
	for i := 0; i < len(src.log); i += 2 {
		other.f.ApplyBatch(src.log[i:min(i+2, len(src.log))])
	}
	_, da, _ := src.f.Digest()
	_, db, _ := other.f.Digest()
	if da != db {
		t.Fatal("same log, different state")
	}
	other.f.ApplyBatch(src.log) // a replay after a restart: all at or below the applied index
	if _, dc, _ := other.f.Digest(); dc != da {
		t.Fatal("a replayed log changed the state")
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

// TestTwoNotificationsOfAUserInOneEntry: a statement and a reminder of one
// user in one log entry both land in the outbox (the second at the next
// free index), and both wait for delivery.
func TestTwoNotificationsOfAUserInOneEntry(t *testing.T) {
	h := setup(t)
	h.one(putAcc(1, 10_000))
	h.one(pay(1, "p", 300))
	h.postAll()
	h.do(notifyCmd(JobStatement, 1, 202611), notifyCmd(JobReminder, 1, 202611))
	n, _ := h.f.Notifications(1)
	if len(n) != 2 || n[0].Job != JobStatement || n[1].Job != JobReminder || n[1].Index != n[0].Index+1 {
		t.Fatalf("outbox: %+v", n)
	}
	if und, _ := h.f.Undelivered(10); len(und) != 2 || h.f.UndeliveredCount() != 2 {
		t.Fatalf("undelivered: %+v, count %d", und, h.f.UndeliveredCount())
	}
}
