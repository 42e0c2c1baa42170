package run

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// fakeHost is a Host with only a logger and a registry; any other method
// panics (the embedded interface is nil).
type fakeHost struct {
	Host
	reg *prometheus.Registry
}

func (h fakeHost) Logger() *slog.Logger              { return slog.Default() }
func (h fakeHost) Registerer() prometheus.Registerer { return h.reg }

// fakeGroup is a zone group of bills (outstanding amounts by user) that
// records repayments by key.
type fakeGroup struct {
	Group
	bills  map[uint64]int64
	repaid map[string]int64
}

func (g *fakeGroup) Bill(user uint64, _ uint32) (*api.Bill, error) {
	if o, ok := g.bills[user]; ok {
		return &api.Bill{User: user, Outstanding: o}, nil
	}
	return nil, fsm.ErrNotFound
}

func (g *fakeGroup) Repayment(_ uint64, key string) (*api.Repayment, error) {
	if _, ok := g.repaid[key]; ok {
		return &api.Repayment{}, nil
	}
	return nil, fsm.ErrNotFound
}

func (g *fakeGroup) ApplyGated(_ context.Context, cmds ...fsm.Command) ([]fsm.Result, error) {
	out := make([]fsm.Result, len(cmds))
	for i, c := range cmds {
		if c.Type != fsm.CmdRepay {
			out[i] = fsm.Result{Code: fsm.NotFound}
			continue
		}
		g.repaid[c.Key] = c.Amount
		g.bills[c.User] -= c.Amount
		out[i] = fsm.Result{Code: fsm.OK}
	}
	return out, nil
}

// TestEffectsDebitOncePerKey: an auto-debit batch debits each user with an
// outstanding amount once through the bank under DebitKey, skips the
// others, and a second delivery of the batch is a replay without a call.
func TestEffectsDebitOncePerKey(t *testing.T) {
	bank := NewSimBank(SimConfig{Slots: 4, Latency: time.Millisecond})
	s := New(fakeHost{reg: prometheus.NewRegistry()}, Config{Bank: bank})
	g := &fakeGroup{bills: map[uint64]int64{1: 500, 2: 0}, repaid: map[string]int64{}}
	const cycle = 202611
	req := EffectsRequest{Job: fsm.JobAutodebit, Cycle: cycle, Users: []uint64{1, 2, 3}}
	rep, err := s.Effects(context.Background(), g, req)
	if err != nil || !slices.Equal(rep.Results, []string{"ok", "not_due", "not_due"}) || rep.Applied != 3 || rep.Calls != 1 {
		t.Fatalf("first batch: %+v %v", rep, err)
	}
	if d, ok := bank.Debited(DebitKey(cycle, 1)); !ok || d != 500 || g.repaid["autodebit-202611-1"] != 500 {
		t.Fatalf("bank debited %d %v, repaid %v", d, ok, g.repaid)
	}
	rep, err = s.Effects(context.Background(), g, req)
	if err != nil || !slices.Equal(rep.Results, []string{"replay", "not_due", "not_due"}) || rep.Calls != 0 {
		t.Fatalf("second batch: %+v %v", rep, err)
	}
	if _, err := s.Effects(context.Background(), g, EffectsRequest{Job: "payroll", Cycle: cycle, Users: []uint64{1}}); err == nil {
		t.Fatal("an unknown job was accepted")
	}
}

// TestEffectsWithoutABankRecordNoRepayment: on a node with no bank, an
// auto-debit batch fails at its first due user and records no repayment
// (a repayment with no debit behind it would be money that never moved).
func TestEffectsWithoutABankRecordNoRepayment(t *testing.T) {
	s := New(fakeHost{reg: prometheus.NewRegistry()}, Config{})
	g := &fakeGroup{bills: map[uint64]int64{1: 500}, repaid: map[string]int64{}}
	rep, err := s.Effects(context.Background(), g, EffectsRequest{Job: fsm.JobAutodebit, Cycle: 202611, Users: []uint64{1}})
	if err != nil || rep.Failed != 1 || rep.Applied != 0 || len(g.repaid) != 0 || g.bills[1] != 500 {
		t.Fatalf("no bank: %+v %v, repaid %v, bill %d", rep, err, g.repaid, g.bills[1])
	}
}

// effectsHost is a fakeHost whose zone leader answers an effects POST
// after delay, applying every user, or failing with err.
type effectsHost struct {
	fakeHost
	delay time.Duration
	err   error
}

func (h effectsHost) Now() time.Time { return time.Now() }
func (h effectsHost) ZoneLeaderAddr(context.Context, string) (string, error) {
	return "zone-leader", nil
}
func (h effectsHost) PostJSON(_ context.Context, _, _ string, req, reply any) error {
	time.Sleep(h.delay)
	if h.err != nil {
		return h.err
	}
	users := req.(EffectsRequest).Users
	rep := reply.(*EffectsReply)
	rep.Applied, rep.Results = len(users), make([]string, len(users))
	for i := range rep.Results {
		rep.Results[i] = "ok"
	}
	return nil
}

// TestNotifyBatchIsOneCall: the limiter sees a batch of notifications as
// one call of the batch's latency, whatever its size, and a batch that
// fails as one failed call.
func TestNotifyBatchIsOneCall(t *testing.T) {
	h := effectsHost{fakeHost: fakeHost{reg: prometheus.NewRegistry()}, delay: 20 * time.Millisecond}
	s := New(h, Config{})
	users := make([]uint64, 200)
	for i := range users {
		users[i] = uint64(i)
	}
	for _, n := range []int{200, 7} {
		tr := &taskRun{g: fsm.Grant{Job: fsm.JobStatement, Cycle: 202611}}
		if got, err := s.applyEffects(context.Background(), "A", tr, users[:n]); err != nil || got != n {
			t.Fatalf("batch of %d: applied %d, %v", n, got, err)
		}
		if tr.calls != 1 || tr.failed != 0 || tr.rttSum < h.delay || tr.done != int64(n) {
			t.Fatalf("batch of %d: %d calls, %d failed, rtt %s, %d done; want one call of at least %s", n, tr.calls, tr.failed, tr.rttSum, tr.done, h.delay)
		}
	}
	h.err = errors.New("zone leader unreachable")
	h.reg = prometheus.NewRegistry()
	s = New(h, Config{})
	tr := &taskRun{g: fsm.Grant{Job: fsm.JobStatement, Cycle: 202611}}
	if got, err := s.applyEffects(context.Background(), "A", tr, users); err == nil || got != 0 || tr.calls != 1 || tr.failed != 1 {
		t.Fatalf("failed batch: applied %d, %v, %d calls, %d failed; want one failed call", got, err, tr.calls, tr.failed)
	}
}

// TestUntakeWakesTheWorker: a task's end signals the worker's loop, so
// that it asks for the next task at once, not at its next tick; ends that
// come together leave one wake-up and never block.
func TestUntakeWakesTheWorker(t *testing.T) {
	s := New(fakeHost{reg: prometheus.NewRegistry()}, Config{Interval: time.Hour})
	s.take()
	s.take()
	s.untake()
	s.untake() // must not block on the wake-up already pending
	select {
	case <-s.freed:
	default:
		t.Fatal("no wake-up after a task ended")
	}
	select {
	case <-s.freed:
		t.Fatal("two wake-ups pending; one is enough")
	default:
	}
	if s.freeSlots() != s.cfg.Slots {
		t.Fatalf("free slots %d, want %d", s.freeSlots(), s.cfg.Slots)
	}
}

// stoppedHost is a node that has begun to stop.
type stoppedHost struct {
	fakeHost
	done chan struct{}
}

func (h stoppedHost) Done() <-chan struct{}    { return h.done }
func (h stoppedHost) MetaState() fsm.MetaState { return fsm.MetaState{Initialized: true} }

// TestLoopAsksNothingOnceStopping: when the node stops, its tasks end and
// fire the worker's wake-up together with Done; the loop must return, not
// lease tasks it can no longer run (they would hold the limit until their
// leases ran out).
func TestLoopAsksNothingOnceStopping(t *testing.T) {
	h := stoppedHost{fakeHost: fakeHost{reg: prometheus.NewRegistry()}, done: make(chan struct{})}
	s := New(h, Config{Interval: time.Hour})
	close(h.done)
	for range 50 { // the select picks at random between Done and the wake-up
		now := make(chan struct{}, 1)
		now <- struct{}{}
		s.loop(now, func() { t.Fatal("asked for work while stopping") })
	}
}
