package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/api"
	bolt "go.etcd.io/bbolt"
)

// t0 is a fixed log time in November 2026.
var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).UnixMilli()

// harness feeds commands to an FSM as log entries, one entry per call.
type harness struct {
	t     testing.TB
	f     *FSM
	path  string
	index uint64
	log   []*raft.Log
}

func setup(t testing.TB) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &harness{t: t, f: f, path: path}
}

// do applies cmds as one entry and returns their results.
func (h *harness) do(cmds ...Command) []Result {
	h.t.Helper()
	h.index++
	l := &raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: Encode(nil, cmds...)}
	h.log = append(h.log, l)
	out := h.f.Apply(l)
	res, ok := out.([]Result)
	if !ok {
		h.t.Fatalf("apply of entry %d returned %T", h.index, out)
	}
	return res
}

func (h *harness) one(c Command) Result { h.t.Helper(); return h.do(c)[0] }

func putAcc(user uint64, limit int64) Command {
	return Command{Type: CmdPutAccount, User: user, Time: t0, CreditLimit: limit}
}

func pay(user uint64, key string, amount int64) Command {
	return Command{Type: CmdPay, User: user, Time: t0, Key: key, Amount: amount, Merchant: "shop"}
}

func repay(user uint64, key string, amount int64) Command {
	return Command{Type: CmdRepay, User: user, Time: t0, Key: key, Amount: amount}
}

func (h *harness) postAll() int {
	h.t.Helper()
	refs, err := h.f.Unposted(1 << 20)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.one(Command{Type: CmdPost, Time: t0 + 1000, Posts: refs}).Posted
}

func (h *harness) account(user uint64) *api.Account {
	h.t.Helper()
	a, err := h.f.Account(user)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func TestPayReplayAndConflict(t *testing.T) {
	h := setup(t)
	h.one(putAcc(1, 10_000))
	first := h.one(pay(1, "k1", 700))
	if first.Code != OK || first.Replay || first.Payment.Status != api.PaymentAccepted {
		t.Fatalf("first payment: %+v", first)
	}
	tests := []struct {
		name       string
		cmd        Command
		wantCode   Code
		wantReplay bool
	}{
		{"same key same parameters replays", pay(1, "k1", 700), OK, true},
		{"same key other amount conflicts", pay(1, "k1", 701), Conflict, false},
		{"same key other merchant conflicts", Command{Type: CmdPay, User: 1, Time: t0, Key: "k1", Amount: 700, Merchant: "other"}, Conflict, false},
		{"same key other user is another payment", pay(2, "k1", 700), NotFound, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.one(tc.cmd)
			if r.Code != tc.wantCode || r.Replay != tc.wantReplay {
				t.Fatalf("got code %v replay %v (%s), want %v replay %v", r.Code, r.Replay, r.Msg, tc.wantCode, tc.wantReplay)
			}
			if tc.wantReplay && *r.Payment != *first.Payment {
				t.Fatalf("replay returned %+v, want the original %+v", r.Payment, first.Payment)
			}
		})
	}
	if a := h.account(1); a.Pending != 700 || a.Accepted != 700 {
		t.Fatalf("replays changed the account: %+v", a)
	}
}

func TestDeclinedKeyStaysDeclined(t *testing.T) {
	h := setup(t)
	h.one(putAcc(1, 1000))
	if r := h.one(pay(1, "big", 1500)); r.Code != InsufficientCredit || r.Payment.Status != api.PaymentDeclined {
		t.Fatalf("over-limit payment: %+v", r)
	} else if want := "amount 15.00 exceeds available credit 10.00"; r.Msg != want {
		// Messages show amounts as decimals in major units, the unit the
		// CLI's user typed (the fields stay in minor units).
		t.Fatalf("decline message %q, want %q", r.Msg, want)
	}
	h.one(putAcc(1, 5000)) // now it would fit
	r := h.one(pay(1, "big", 1500))
	if r.Code != InsufficientCredit || !r.Replay {
		t.Fatalf("replayed declined key after limit raise: code %v replay %v", r.Code, r.Replay)
	} else if want := `payment "big" was declined: amount 15.00 exceeded available credit`; r.Msg != want {
		t.Fatalf("replayed decline message %q, want %q", r.Msg, want)
	}
	if a := h.account(1); a.Pending != 0 || a.Used != 0 {
		t.Fatalf("declined payment reserved credit: %+v", a)
	}
	if r := h.one(pay(1, "big2", 1500)); r.Code != OK {
		t.Fatalf("a new key for the same amount: %+v", r)
	}
}

func TestCreditLimit(t *testing.T) {
	h := setup(t)
	h.one(putAcc(1, 1000))
	steps := []struct {
		key    string
		amount int64
		want   Code
	}{
		{"a", 400, OK}, {"b", 600, OK}, {"c", 1, InsufficientCredit},
	}
	for _, s := range steps {
		if r := h.one(pay(1, s.key, s.amount)); r.Code != s.want {
			t.Fatalf("pay %s %d: %v (%s), want %v", s.key, s.amount, r.Code, r.Msg, s.want)
		}
	}
	if a := h.account(1); a.Available != 0 || a.Pending != 1000 {
		t.Fatalf("account after filling the limit: %+v", a)
	}
	// Lowering the limit below what is in use is refused.
	if r := h.one(putAcc(1, 999)); r.Code != Invalid {
		t.Fatalf("limit below usage: %+v", r)
	}
	// Posting keeps the credit in use; repaying frees it.
	h.postAll()
	if r := h.one(pay(1, "d", 1)); r.Code != InsufficientCredit {
		t.Fatalf("pay after posting at full use: %v", r.Code)
	}
	h.one(repay(1, "r1", 300))
	if r := h.one(pay(1, "e", 300)); r.Code != OK {
		t.Fatalf("pay after repayment: %v %s", r.Code, r.Msg)
	}
	if r := h.one(pay(9, "x", 1)); r.Code != NotFound {
		t.Fatalf("pay without account: %v", r.Code)
	}
}

func TestPostingBooksIntoCycleBill(t *testing.T) {
	h := setup(t)
	h.one(putAcc(1, 10_000))
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	h.one(pay(1, "nov", 100))
	h.one(Command{Type: CmdPay, User: 1, Time: dec, Key: "dec", Amount: 250, Merchant: "m"})
	if n := h.postAll(); n != 2 {
		t.Fatalf("posted %d, want 2", n)
	}
	if n := h.postAll(); n != 0 {
		t.Fatalf("second post booked %d again", n)
	}
	bills, err := h.f.Bills(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(bills) != 2 || bills[0].Cycle != "202611" || bills[0].Principal != 100 || bills[1].Cycle != "202612" || bills[1].Principal != 250 {
		t.Fatalf("bills: %+v", bills)
	}
	if bills[0].DueDate != "2026-12-10" {
		t.Fatalf("due date %s", bills[0].DueDate)
	}
	p, _ := h.f.Payment(1, "nov")
	if p.Status != api.PaymentPosted {
		t.Fatalf("payment status %s", p.Status)
	}
	if a := h.account(1); a.Used != 350 || a.Pending != 0 {
		t.Fatalf("account: %+v", a)
	}
}

func TestRepayment(t *testing.T) {
	h := setup(t)
	h.one(putAcc(1, 10_000))
	h.one(pay(1, "p1", 500))
	if r := h.one(repay(1, "early", 100)); r.Code != Overpayment {
		t.Fatalf("repaying an unposted payment: %v", r.Code)
	}
	h.postAll()
	dec := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC).UnixMilli()
	h.one(Command{Type: CmdPay, User: 1, Time: dec, Key: "p2", Amount: 300, Merchant: "m"})
	h.postAll()

	r := h.one(repay(1, "r1", 600)) // oldest first: 500 to 202611, 100 to 202612
	if r.Code != OK || len(r.Repayment.Allocations) != 2 || r.Repayment.Allocations[0].Amount != 500 || r.Repayment.Allocations[1].Amount != 100 {
		t.Fatalf("repay 600: %+v", r.Repayment)
	}
	if r := h.one(repay(1, "r1", 600)); r.Code != OK || !r.Replay {
		t.Fatalf("repay replay: %+v", r)
	}
	if r := h.one(repay(1, "r1", 601)); r.Code != Conflict {
		t.Fatalf("repay conflict: %+v", r)
	}
	over := h.one(repay(1, "r2", 201))
	if over.Code != Overpayment {
		t.Fatalf("overpayment: %+v", over)
	}
	if r := h.one(repay(1, "r2", 201)); r.Code != Overpayment || !r.Replay {
		t.Fatalf("refused repayment replay: %+v", r)
	}
	if r := h.one(Command{Type: CmdRepay, User: 1, Time: t0, Key: "r3", Amount: 1, Cycle: 202611}); r.Code != Overpayment {
		t.Fatalf("repaying a paid bill: %+v", r)
	}
	if r := h.one(Command{Type: CmdRepay, User: 1, Time: t0, Key: "r4", Amount: 200, Cycle: 202612}); r.Code != OK {
		t.Fatalf("repaying a cycle: %+v", r)
	}
	bills, _ := h.f.Bills(1)
	for _, b := range bills {
		if b.Outstanding != 0 || b.Status != api.BillPaid {
			t.Fatalf("bill not paid off: %+v", b)
		}
	}
	if a := h.account(1); a.Used != 0 || a.Repaid != 800 {
		t.Fatalf("account: %+v", a)
	}
}

// checkMoney recomputes each account's totals from its payments and
// repayments (not from the account's own counters) and checks
// used + pending == accepted - repaid.
func checkMoney(t *testing.T, f *FSM) {
	t.Helper()
	checkMoneyLimit(t, f, true)
}

// checkMoneyLimit is checkMoney, with the credit limit checked only when
// withinLimit: reconciliation may leave a merged account over its limit.
func checkMoneyLimit(t *testing.T, f *FSM, withinLimit bool) {
	t.Helper()
	type sums struct{ accepted, repaid, pending int64 }
	got := map[uint64]*sums{}
	at := func(u uint64) *sums {
		if got[u] == nil {
			got[u] = &sums{}
		}
		return got[u]
	}
	err := f.view(func(tx *bolt.Tx) error {
		tx.Bucket(bucketPayments).ForEach(func(k, v []byte) error {
			var p paymentRec
			decode(v, &p)
			s := at(binary.BigEndian.Uint64(k))
			if p.Status != api.PaymentDeclined {
				s.accepted += p.Amount
			}
			if p.Status == api.PaymentAccepted {
				s.pending += p.Amount
			}
			return nil
		})
		tx.Bucket(bucketRepayments).ForEach(func(k, v []byte) error {
			var r repaymentRec
			decode(v, &r)
			if r.Status == api.RepaymentApplied {
				at(binary.BigEndian.Uint64(k)).repaid += r.Amount
			}
			return nil
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = f.ForEachAccount(func(a api.Account) error {
		s := at(a.User)
		if a.Used+a.Pending != s.accepted-s.repaid || a.Pending != s.pending || a.Used < 0 || (withinLimit && a.Used+a.Pending > a.CreditLimit) {
			return fmt.Errorf("account %d: used %d pending %d limit %d, but payments accepted %d (pending %d) repaid %d",
				a.User, a.Used, a.Pending, a.CreditLimit, s.accepted, s.pending, s.repaid)
		}
		var billed int64
		bills, _ := f.Bills(a.User)
		for _, b := range bills {
			billed += b.Outstanding
		}
		if billed != a.Used {
			return fmt.Errorf("account %d: bills outstanding %d != used %d", a.User, billed, a.Used)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// randomCommands makes a reproducible mix of every command over a few users,
// with reused keys, over-limit payments and overpayments, statements,
// reminders and their delivery marks.
func randomCommands(seed uint64, n int) []Command {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []Command
	now := t0
	for u := uint64(0); u < 5; u++ {
		out = append(out, putAcc(u, 5000))
	}
	var posts []PostRef
	for i := 0; i < n; i++ {
		now += int64(rng.IntN(3_600_000 * 24))
		u := uint64(rng.IntN(5))
		switch rng.IntN(12) {
		case 0, 1, 2, 3, 4:
			key := fmt.Sprintf("p%d", rng.IntN(n/2+1))
			out = append(out, Command{Type: CmdPay, User: u, Time: now, Key: key, Amount: int64(1 + rng.IntN(800)), Merchant: "m"})
			posts = append(posts, PostRef{User: u, Key: key})
		case 5, 6:
			out = append(out, Command{Type: CmdPost, Time: now, Posts: posts})
			posts = nil
		case 7, 8:
			out = append(out, Command{Type: CmdRepay, User: u, Time: now, Key: fmt.Sprintf("r%d", rng.IntN(n/4+1)), Amount: int64(1 + rng.IntN(900))})
		case 9:
			out = append(out, putAcc(u, int64(2000+rng.IntN(6000))))
		case 10:
			out = append(out, Command{Type: CmdNotify, User: u, Time: now, Key: []string{JobStatement, JobReminder}[rng.IntN(2)], Cycle: CycleOf(now)})
		case 11:
			out = append(out, Command{Type: CmdNotifyDelivered, Time: now, Notes: []NoteRef{
				{User: u, Job: JobStatement, Cycle: CycleOf(now)}, {User: uint64(rng.IntN(5)), Job: JobReminder, Cycle: CycleOf(now)}}})
		}
	}
	return out
}

func TestMoneyIdentityUnderRandomCommands(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			h := setup(t)
			for _, c := range randomCommands(seed, 2000) {
				h.one(c)
			}
			h.postAll()
			checkMoney(t, h.f)
		})
	}
}

func TestDeterminism(t *testing.T) {
	// The same log, with entries of several commands, applied one entry at a
	// time on one replica and in batches of varying size on the other, must
	// end in byte-identical state.
	cmds := randomCommands(42, 1500)
	var logs []*raft.Log
	for i := 0; i < len(cmds); i += 3 {
		logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Type: raft.LogCommand, Data: Encode(nil, cmds[i:min(i+3, len(cmds))]...)})
	}
	// One replica commits every entry, the other holds entries in its open
	// transaction across batches (the default policy): bbolt answers some
	// reads differently inside the transaction that wrote the key, and
	// apply must not depend on it.
	a, b := setup(t), setup(t)
	ea, err := OpenWith(filepath.Join(t.TempDir(), "every.db"), nil, CommitEveryBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer ea.Close()
	a.f = ea
	for _, l := range logs {
		a.f.Apply(l)
	}
	rng := rand.New(rand.NewPCG(42, 2))
	for i := 0; i < len(logs); {
		n := 1 + rng.IntN(16)
		b.f.ApplyBatch(logs[i:min(i+n, len(logs))])
		i += n
	}
	ia, da, _ := a.f.Digest()
	ib, db, _ := b.f.Digest()
	if ia != ib || da != db {
		t.Fatalf("same log, different state: index %d vs %d, digest %x vs %x", ia, ib, da, db)
	}
	checkMoney(t, a.f)
}

// snapshotBytes takes a snapshot of f and returns what it persists.
func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func TestSnapshotRestore(t *testing.T) {
	src := setup(t)
	for _, c := range randomCommands(7, 800) {
		src.one(c)
	}
	snap, err := src.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Apply goes on while the snapshot is persisted; the snapshot keeps its cut.
	_, before, _ := src.f.Digest()
	var sink memSink
	done := make(chan error)
	go func() { done <- snap.Persist(&sink) }()
	src.one(putAcc(99, 1))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := setup(t)
	for _, c := range randomCommands(8, 100) { // state to be replaced
		dst.one(c)
	}
	if err := dst.f.Restore(nopCloser{bytes.NewReader(sink.Bytes())}); err != nil {
		t.Fatal(err)
	}
	idx, after, _ := dst.f.Digest()
	if after != before || idx != src.index-1 || dst.f.AppliedIndex() != idx {
		t.Fatalf("restored state differs: index %d (want %d), digest equal %v", idx, src.index-1, after == before)
	}
	if _, err := dst.f.Account(99); err == nil {
		t.Fatal("restore holds a write made after the snapshot")
	}
}

func TestRestartDoesNotApplyTwice(t *testing.T) {
	h := setup(t)
	h.one(putAcc(1, 10_000))
	h.one(pay(1, "a", 100))
	h.one(repay(1, "r", 1)) // refused: nothing posted
	h.postAll()
	_, want, _ := h.f.Digest()
	if err := h.f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(h.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.AppliedIndex() != h.index {
		t.Fatalf("applied index after restart %d, want %d", f.AppliedIndex(), h.index)
	}
	// Raft replays the whole log after a restart (snapshot restore is off).
	res := f.ApplyBatch(h.log)
	for i, r := range res {
		if r != nil {
			t.Fatalf("entry %d was applied again: %+v", i+1, r)
		}
	}
	_, got, _ := f.Digest()
	if got != want {
		t.Fatal("replaying the log after a restart changed the state")
	}
	// New entries after the replay still apply.
	next := &raft.Log{Index: h.index + 1, Type: raft.LogCommand, Data: Encode(nil, pay(1, "b", 5))}
	if r := f.Apply(next).([]Result); r[0].Code != OK {
		t.Fatalf("new entry after restart: %+v", r[0])
	}
}

func TestMalformedEntryRefusedAlike(t *testing.T) {
	h := setup(t)
	out := h.f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{EntryVersion, 1, byte(CmdPay), 0xff}})
	if r := out.([]Result); r[0].Code != Invalid {
		t.Fatalf("malformed entry: %+v", r)
	}
	if h.f.AppliedIndex() != 1 {
		t.Fatal("malformed entry did not advance the applied index")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("an entry of an unknown version did not stop the replica")
		}
	}()
	h.f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte{EntryVersion + 1, 0}})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
