package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// postOp POSTs body to path on node i and decodes the operation it
// answers with.
func (mc *multiCluster) postOp(t *testing.T, i int, path, body string) (int, api.Operation) {
	t.Helper()
	resp, err := mc.hc.Post(mc.url(i, path), "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var op api.Operation
	if err := json.Unmarshal(data, &op); err != nil {
		t.Fatalf("POST %s: %s: %v", path, data, err)
	}
	return resp.StatusCode, op
}

// TestShardMoveFinishedByTheNextMetaLeader cuts a shard move short where it
// leaves the shard refusing writes (the source has released it, the target
// has its records but does not own it) by stopping the node that drives it,
// the meta leader. The next meta leader finishes the move from the phase
// the operation records, the shard serves writes again in the target, and
// the operation's record, begun on the old leader, is the same one.
func TestShardMoveFinishedByTheNextMetaLeader(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 3)
	ctx := context.Background()
	cl, _ := client.New(mc.apis, client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithMaxRetries(40))
	const shard = 17
	users := []uint64{17, 117}
	for _, u := range users {
		if _, err := cl.PutAccount(ctx, u, 100_000); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Pay(ctx, u, client.PayRequest{Key: "before", Amount: 100, Merchant: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	from := mc.nodes[0].metaFSM.State().Shards[shard].Zone
	to := map[string]string{"A": "B", "B": "C", "C": "A"}[from]

	// The first node to drive the move hangs before the drop, as a driver
	// whose node is about to die would.
	var mu sync.Mutex
	driver := ""
	hold := func(node, phase string) bool {
		if phase != fsm.MovePhaseDropping {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if driver == "" {
			driver = node
		}
		return node == driver
	}
	testMoveHold.Store(&hold)
	t.Cleanup(func() { testMoveHold.Store(nil) })

	asker := (mc.metaLeader() + 1) % len(mc.nodes)
	status, op := mc.postOp(t, asker, fmt.Sprintf("/v1/shards/%d/move", shard), `{"zone":"`+to+`"}`)
	if status != http.StatusAccepted || op.ID == "" || op.Kind != fsm.OpShardMove || op.Target != fsm.ShardTarget(shard) ||
		op.From != from || op.To != to || op.Done || op.Index == 0 || op.Started == "" {
		t.Fatalf("move answered %d %+v", status, op)
	}
	var rec fsm.Op
	waitFor(t, 20*time.Second*slow, "the move recorded at the drop, its driver hanging there", func() bool {
		i := mc.metaLeader()
		if i < 0 {
			return false
		}
		rec, _ = mc.nodes[i].metaFSM.State().Op(op.ID)
		mu.Lock()
		defer mu.Unlock()
		return rec.Phase == fsm.MovePhaseDropping && driver != ""
	})
	// Half done: the source has released the shard, the target does not
	// own it; its users' writes are refused.
	for _, nd := range mc.nodes {
		if h := nd.zones.Own(); h != nil && h.Replica().IsLeader() && (h.Name() == from || h.Name() == to) {
			if owned, _ := h.FSM().Owns(users[0]); owned {
				t.Fatalf("zone %s owns shard %d in the middle of the move", h.Name(), shard)
			}
		}
	}
	short, _ := client.New(mc.apis, client.WithMaxRetries(1), client.WithTimeout(time.Second))
	if _, err := short.Pay(ctx, users[0], client.PayRequest{Key: "mid-move", Amount: 1, Merchant: "m"}); err == nil {
		t.Fatal("a payment of the moving shard was accepted while neither zone owned it")
	}

	// The driver's node dies.
	dead := -1
	for i, nd := range mc.nodes {
		if nd.cfg.NodeID == driver {
			dead = i
		}
	}
	if dead < 0 || !mc.nodes[dead].meta.IsLeader() {
		t.Fatalf("the move's driver %s is not the meta leader", driver)
	}
	t.Logf("stopping %s, the meta leader driving move %s at phase %s", driver, op.ID, rec.Phase)
	mc.nodes[dead].Shutdown(ctx)

	var done fsm.Op
	waitFor(t, 30*time.Second*slow, "the next meta leader finishes the move", func() bool {
		i := mc.metaLeader()
		if i < 0 || i == dead {
			return false
		}
		st := mc.nodes[i].metaFSM.State()
		done, _ = st.Op(op.ID)
		return done.Done() && st.Shards[shard].Zone == to && st.Shards[shard].Target == ""
	})
	if done.Started != rec.Started || done.Kind != fsm.OpShardMove || done.From != from || done.To != to || done.Progress != 100 {
		t.Fatalf("the finished record %+v is not the one begun (%+v)", done, rec)
	}
	// Every live node answers it, once its replica has applied as far.
	live := (dead + 1) % len(mc.nodes)
	var got api.Operation
	getJSON(t, mc.apis[live], fmt.Sprintf("/v1/ops/%s?after=%d", op.ID, done.Index), &got)
	if !got.Done || got.ID != op.ID || got.Phase != fsm.OpDone {
		t.Fatalf("GET /v1/ops/%s on %s: %+v", op.ID, mc.nodes[live].cfg.NodeID, got)
	}
	var list api.OperationList
	getJSON(t, mc.apis[live], "/v1/ops", &list)
	found := false
	for _, o := range list.Operations {
		found = found || o.ID == op.ID
	}
	if !found {
		t.Fatalf("GET /v1/ops does not list %s: %+v", op.ID, list)
	}

	// The shard serves writes again, in the target, with what it held.
	for _, u := range users {
		if _, err := cl.Pay(ctx, u, client.PayRequest{Key: "after", Amount: 10, Merchant: "m"}); err != nil {
			t.Fatalf("pay for user %d after the move: %v", u, err)
		}
		a, err := cl.GetAccount(ctx, u)
		if err != nil || a.Accepted != 110 {
			t.Fatalf("account %d after the move: %+v %v", u, a, err)
		}
	}
}

// TestFailoverReplyIsTheOperation asks a node that does not lead the meta
// group for a failover: the reply is the operation the meta group applied
// (202, kind failover, the zone, its phase), not this node's view, and a
// read of the zone after the operation's index shows the failover under
// way. The client follows the operation to the end state it returned
// before, and the record survives a change of meta leader.
func TestFailoverReplyIsTheOperation(t *testing.T) {
	mc := setupZones(t, []string{"A", "B", "C"}, 1)
	asker := (mc.metaLeader() + 1) % len(mc.nodes)
	before := mc.nodes[asker].metaFSM.AppliedIndex()
	status, op := mc.postOp(t, asker, "/v1/zones/A/failover?force=true", "")
	if status != http.StatusAccepted || op.ID == "" || op.Kind != fsm.OpFailover || op.Target != "A" || op.Done ||
		op.Phase != fsm.PhaseFailingOver || op.Index <= before {
		t.Fatalf("failover answered %d %+v (the node had applied %d)", status, op, before)
	}
	var zs api.ZoneStatus
	getJSON(t, mc.apis[asker], fmt.Sprintf("/v1/zones/A?after=%d", op.Index), &zs)
	if zs.Phase == fsm.PhaseNormal || zs.Failover == nil || zs.Failover.Started != op.Started {
		t.Fatalf("zone A read after the failover's index: phase %s, failover %+v; the operation began %s", zs.Phase, zs.Failover, op.Started)
	}
	// Asked again: the same operation.
	if st2, again := mc.postOp(t, (asker+1)%len(mc.nodes), "/v1/zones/A/failover?force=true", ""); again.ID != op.ID || (st2 != http.StatusAccepted && st2 != http.StatusOK) {
		t.Fatalf("a second failover answered %d %+v, want operation %s", st2, again, op.ID)
	}

	// The client follows it to the failover phase.
	admin, _ := client.New(mc.apis, client.WithMaxRetries(20))
	var steps []string
	zst, err := admin.FailoverZone(context.Background(), "A", 30*time.Second*slow, client.Forced(),
		client.OnProgress(func(o *client.Operation) { steps = append(steps, o.Phase) }))
	if err != nil || zst.Phase != fsm.PhaseFailover {
		t.Fatalf("FailoverZone: %+v %v", zst, err)
	}
	if len(steps) == 0 || steps[len(steps)-1] != fsm.OpDone {
		t.Fatalf("progress seen: %v", steps)
	}
	var fin *client.Operation
	waitFor(t, 5*time.Second*slow, "every node shows the operation done", func() bool {
		for i := range mc.nodes {
			o, err := admin.Op(context.Background(), op.ID, 0)
			if err != nil || !o.Done || o.Progress != 100 {
				return false
			}
			fin = o
			_ = i
		}
		return true
	})

	// A malformed operation update from the network is refused with a
	// typed error and changes nothing.
	for _, body := range []string{
		`{"type":40,"op_update":{"id":"` + op.ID + `","phase":"done"}}`,
		`{"type":40,"op_update":{"id":"NOT-HEX","phase":"x"}}`,
		`{"type":40,"op_update":{"id":"` + op.ID + `","phase":"x","progress":500}}`,
		`{"type":40}`,
	} {
		if st, code := mc.call(mc.hc, asker, http.MethodPost, "/v1/internal/meta", "", body); st != http.StatusBadRequest || code != api.CodeInvalidArgument {
			t.Fatalf("internal meta %s: %d %s, want 400 %s", body, st, code, api.CodeInvalidArgument)
		}
	}
	if o, _ := mc.nodes[asker].metaFSM.State().Op(op.ID); o.Phase == "x" || o.Progress == 500 {
		t.Fatalf("a malformed update changed operation %s: %+v", op.ID, o)
	}

	// The init recorded its operation; asked again with the same zones it
	// answers with it.
	resp, err := mc.hc.Post(mc.url(1, "/v1/cluster/init"), "application/json", bytes.NewReader([]byte(`{"zones":["A","B","C"]}`)))
	if err != nil {
		t.Fatal(err)
	}
	var rt api.RouteTable
	json.NewDecoder(resp.Body).Decode(&rt)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || rt.Operation == nil || rt.Operation.Kind != fsm.OpClusterInit || !rt.Operation.Done || rt.Operation.Target != "A,B,C" {
		t.Fatalf("cluster init again: %s %+v", resp.Status, rt.Operation)
	}

	// The record survives a change of meta leader.
	old := mc.metaLeader()
	if err := mc.nodes[old].meta.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatalf("meta leadership transfer: %v", err)
	}
	waitFor(t, 10*time.Second*slow, "a new meta leader", func() bool {
		i := mc.metaLeader()
		return i >= 0 && i != old
	})
	o, ok := mc.nodes[mc.metaLeader()].metaFSM.State().Op(op.ID)
	if !ok || cluster.APIOp(o) != api.Operation(*fin) {
		t.Fatalf("after the leader change operation %s is %+v, want %+v", op.ID, cluster.APIOp(o), *fin)
	}

	// The recovery is an operation too: 202 and its record, which the
	// client follows until the zone serves again.
	asker = (mc.metaLeader() + 1) % len(mc.nodes)
	status, rop := mc.postOp(t, asker, "/v1/zones/A/recover", "")
	if status != http.StatusAccepted || rop.ID == "" || rop.ID == op.ID || rop.Kind != fsm.OpRecover || rop.Target != "A" || rop.Done || rop.Index == 0 {
		t.Fatalf("recover answered %d %+v", status, rop)
	}
	zst, err = admin.RecoverZone(context.Background(), "A", 60*time.Second*slow)
	if err != nil || zst.Phase != fsm.PhaseNormal {
		t.Fatalf("RecoverZone: %+v %v", zst, err)
	}
	waitFor(t, 10*time.Second*slow, "the recovery's record done", func() bool {
		o, err := admin.Op(context.Background(), rop.ID, 0)
		return err == nil && o.Done && o.Progress == 100
	})
}
