package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// fakeHost is a node that hosts no zone replica, with meta as its meta
// state machine (nil: standalone).
type fakeHost struct{ meta *fsm.Meta }

func (h fakeHost) MetaReplica() *zone.Replica       { return nil }
func (h fakeHost) MetaFSM() *fsm.Meta               { return h.meta }
func (h fakeHost) ZoneReplica(string) *zone.Replica { return nil }
func (h fakeHost) Zones() *zone.ReplicaSet          { return nil }
func (h fakeHost) Apply(*zone.Hosted, ...fsm.Command) ([]fsm.Result, error) {
	return nil, errors.New("fakeHost applies nothing")
}
func (h fakeHost) GossipHTTPAddr(string) string             { return "" }
func (h fakeHost) BootstrapZone(voters []raft.Server) error { return nil }

func metaApply(t *testing.T, m *fsm.Meta, idx *uint64, c fsm.MetaCmd) {
	t.Helper()
	*idx++
	if res := m.Apply(&raft.Log{Index: *idx, Type: raft.LogCommand, Data: fsm.EncodeMeta(c)}).(fsm.MetaResult); res.Err != "" {
		t.Fatalf("meta %d: %s", c.Type, res.Err)
	}
}

// TestAPIError: each node error has its API code; an *api.Error passes
// through, wrapped or not; fsm's not-found reads "X not found".
func TestAPIError(t *testing.T) {
	own := api.Errorf(api.CodeLeaseExpired, "mine")
	for _, tc := range []struct {
		err  error
		code api.Code
	}{
		{own, api.CodeLeaseExpired},
		{fmt.Errorf("wrapped: %w", own), api.CodeLeaseExpired},
		{fmt.Errorf("apply: %w", zone.ErrUnknownOutcome), api.CodeUnknownOutcome},
		{zone.ErrNotLeader, api.CodeUnavailable},
		{zone.ErrNoLeader, api.CodeUnavailable},
		{zone.ErrNotApplied, api.CodeUnavailable},
		{zone.ErrShutdown, api.CodeUnavailable},
		{ErrNotInitialized, api.CodeUnavailable},
		{fsm.ErrInvalidCommand, api.CodeInvalidArgument},
		{fsm.ErrNotFound, api.CodeNotFound},
		{fsm.ErrClosed, api.CodeUnavailable},
		{errors.New("disk on fire"), api.CodeInternal},
	} {
		if got := APIError(tc.err); got.Code != tc.code {
			t.Errorf("APIError(%v) = %v, want code %s", tc.err, got, tc.code)
		}
	}
	if e := APIError(fmt.Errorf("%w: payment k1", fsm.ErrNotFound)); e.Message != "payment k1 not found" {
		t.Errorf("not found message %q", e.Message)
	}
}

// TestResultError: OK is no error, every business outcome its code with the
// result's message, an unknown code internal.
func TestResultError(t *testing.T) {
	if e := ResultError(fsm.Result{Code: fsm.OK}); e != nil {
		t.Fatalf("OK: %v", e)
	}
	for code, want := range map[fsm.Code]api.Code{
		fsm.Conflict: api.CodeIdempotencyConflict, fsm.InsufficientCredit: api.CodeInsufficientCredit,
		fsm.Overpayment: api.CodeOverpayment, fsm.NotFound: api.CodeNotFound, fsm.Invalid: api.CodeInvalidArgument,
		fsm.WrongZone: api.CodeWrongZone, fsm.Isolated: api.CodeAccountIsolated,
	} {
		if e := ResultError(fsm.Result{Code: code, Msg: "why"}); e == nil || e.Code != want || e.Message != "why" {
			t.Errorf("code %d: %v, want %s: why", code, e, want)
		}
	}
	if e := ResultError(fsm.Result{Code: 200}); e == nil || e.Code != api.CodeInternal {
		t.Errorf("unknown code: %v", e)
	}
}

// TestRouteAndCommandError: a standalone zone routes every user to itself
// at epoch 1; a cluster node routes by the meta state once initialized,
// answers a wrong-zone result with the route epoch, and one on a moving
// shard as unavailable.
func TestRouteAndCommandError(t *testing.T) {
	alone := New(fakeHost{}, Config{NodeID: "a1", Zone: "A"})
	if z, e, err := alone.Route(42); z != "A" || e != 1 || err != nil {
		t.Fatalf("standalone route: %s %d %v", z, e, err)
	}
	if e := alone.CommandError(42, fsm.Result{Code: fsm.WrongZone, Msg: "elsewhere"}); e.Code != api.CodeWrongZone || e.Epoch != 1 {
		t.Fatalf("standalone wrong zone: %+v", e)
	}

	meta := fsm.NewMeta(nil)
	m := New(fakeHost{meta: meta}, Config{NodeID: "a1", Zone: "A", Clustered: true})
	if _, _, err := m.Route(42); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("route before init: %v", err)
	}
	var idx uint64
	metaApply(t, meta, &idx, fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
	const user = 42
	wantZone, wantEpoch := meta.State().Route(user)
	if z, e, err := m.Route(user); z != wantZone || e != wantEpoch || err != nil {
		t.Fatalf("route: %s %d %v, want %s %d", z, e, err, wantZone, wantEpoch)
	}
	if e := m.CommandError(user, fsm.Result{Code: fsm.OK}); e != nil {
		t.Fatalf("OK: %v", e)
	}
	other := "A"
	if wantZone == "A" {
		other = "B"
	}
	metaApply(t, meta, &idx, fsm.MetaCmd{Type: fsm.MetaMoveShard, Shard: int(user % fsm.NumShards), Target: other})
	if e := m.CommandError(user, fsm.Result{Code: fsm.WrongZone}); e.Code != api.CodeUnavailable || !strings.Contains(e.Message, "moving to zone "+other) {
		t.Fatalf("wrong zone of a moving shard: %+v", e)
	}
	if e := m.CommandError(user+1, fsm.Result{Code: fsm.WrongZone}); e.Code != api.CodeWrongZone || e.Epoch != m.RouteEpoch() || e.Epoch != meta.State().Epoch {
		t.Fatalf("wrong zone: %+v (route epoch %d)", e, m.RouteEpoch())
	}
}

// TestRequestsOfAZoneNotHostedHere: a write or a read of a user whose zone
// this node does not host is to be forwarded to that zone; a batch's items
// of such a zone fail as unavailable when no leader is known or the batch
// was forwarded too often, an invalid item fails on its own, and before
// init every item is unavailable.
func TestRequestsOfAZoneNotHostedHere(t *testing.T) {
	meta := fsm.NewMeta(nil)
	m := New(fakeHost{meta: meta}, Config{NodeID: "a1", Zone: "A", Clustered: true, LeaderWait: 10 * time.Millisecond, Stop: make(chan struct{})})
	ctx := context.Background()
	pays := []api.BatchPayment{{User: 1, Key: "k1", Amount: 5, Merchant: "m"}, {User: 2, Key: "k2", Amount: 0, Merchant: "m"}}

	res := ApplyBatch(m, ctx, PayBatch, pays, 0)
	if res[0].Error == nil || res[0].Error.Code != api.CodeUnavailable || res[1].Error == nil || res[1].Error.Code != api.CodeInvalidArgument {
		t.Fatalf("batch before init: %+v", res)
	}
	if _, fwd, aerr := m.Write(ctx, fsm.Command{Type: fsm.CmdPay, User: 1}); fwd != "" || aerr == nil || aerr.Code != api.CodeUnavailable {
		t.Fatalf("write before init: %q %v", fwd, aerr)
	}

	var idx uint64
	metaApply(t, meta, &idx, fsm.MetaCmd{Type: fsm.MetaInit, Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}}})
	z, _, _ := m.Route(1)
	if _, fwd, aerr := m.Write(ctx, fsm.Command{Type: fsm.CmdPay, User: 1}); fwd != z || aerr != nil {
		t.Fatalf("write: forward to %q (%v), want %s", fwd, aerr, z)
	}
	for _, stale := range []bool{true, false} {
		if h, fwd, aerr := m.Read(ctx, 1, stale, time.Second); h != nil || fwd != z || aerr != nil {
			t.Fatalf("read (stale %v): %v %q %v, want forward to %s", stale, h, fwd, aerr, z)
		}
	}
	for hops, want := range map[int]string{0: "no reachable leader", MaxHops: "cannot serve zone"} {
		res := ApplyBatch(m, ctx, PayBatch, pays, hops)
		if len(res) != 2 || res[0].Error == nil || res[0].Status != 503 || !strings.Contains(res[0].Error.Message, want) {
			t.Fatalf("hops %d: %+v, want unavailable: %s", hops, res, want)
		}
		if res[1].Error == nil || res[1].Error.Code != api.CodeInvalidArgument || res[1].Status != 400 {
			t.Fatalf("hops %d: invalid item %+v", hops, res[1])
		}
	}
}

// TestBatchKinds: each kind decodes its body and turns an item into its
// command and a success into the single request's status.
func TestBatchKinds(t *testing.T) {
	pays, err := PayBatch.Decode([]byte(`{"payments":[{"user":7,"key":"k","amount":5,"merchant":"m"}]}`))
	if err != nil || len(pays) != 1 {
		t.Fatalf("pay decode: %v %v", pays, err)
	}
	if c := PayBatch.cmd(pays[0]); c.Type != fsm.CmdPay || c.User != 7 || c.Key != "k" || c.Amount != 5 || c.Merchant != "m" {
		t.Fatalf("pay command %+v", c)
	}
	if PayBatch.ok(fsm.Result{}).Status != 201 || PayBatch.ok(fsm.Result{Replay: true}).Status != 200 {
		t.Fatal("pay statuses")
	}
	accts, err := AccountBatch.Decode([]byte(`{"accounts":[{"user":8,"credit_limit":100}]}`))
	if err != nil || len(accts) != 1 {
		t.Fatalf("account decode: %v %v", accts, err)
	}
	if c := AccountBatch.cmd(accts[0]); c.Type != fsm.CmdPutAccount || c.User != 8 || c.CreditLimit != 100 {
		t.Fatalf("account command %+v", c)
	}
	if _, err := PayBatch.Decode([]byte(`{"payments":[],"extra":1}`)); err == nil {
		t.Fatal("decoded an unknown field")
	} else if _, ok := err.(*api.Error); !ok {
		t.Fatalf("decode error %T", err)
	}
}
