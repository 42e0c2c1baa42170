package server

import (
	"context"
	"github.com/rzonedb/rzone/internal/testnet"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	dto "github.com/prometheus/client_model/go"
	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// electionCounter is a slog handler that counts Raft's election timeouts
// ("heartbeat timeout reached, starting election") by node, and passes
// every record on.
type electionCounter struct {
	slog.Handler
	node  string
	count *sync.Map // node id -> *atomic.Int64
}

func (h electionCounter) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "heartbeat timeout reached, starting election") {
		v, _ := h.count.LoadOrStore(h.node, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h electionCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return electionCounter{h.Handler.WithAttrs(as), h.node, h.count}
}

func (h electionCounter) WithGroup(g string) slog.Handler {
	return electionCounter{h.Handler.WithGroup(g), h.node, h.count}
}

// countElections makes tune count each node's election timeouts into
// count.
func countElections(count *sync.Map, tune func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Logger = slog.New(electionCounter{Handler: c.Logger.Handler(), node: c.NodeID, count: count})
		if tune != nil {
			tune(c)
		}
	}
}

// elections is how many election timeouts the nodes but skip counted.
func elections(count *sync.Map, skip ...string) int64 {
	var total int64
	count.Range(func(k, v any) bool {
		if !slices.Contains(skip, k.(string)) {
			total += v.(*atomic.Int64).Load()
		}
		return true
	})
	return total
}

// slowElections gives the groups a 1s heartbeat and election timeout: a
// leader lost without a hand-off is replaced no sooner than that.
func slowElections(c *Config) {
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
}

// zoneLeader is the index of the running node that leads zone z's group,
// or -1.
func (mc *multiCluster) zoneLeader(z string) int {
	for i, nd := range mc.nodes {
		if nd == nil || nd.closing.Load() || mc.cfgs[i].Zone != z {
			continue
		}
		if h := nd.zones.Own(); h != nil && h.Replica().IsLeader() {
			return i
		}
	}
	return -1
}

// adminClient is a client of every node's API with the cluster's admin
// token.
func (mc *multiCluster) adminClient(t *testing.T) *client.Client {
	t.Helper()
	opts := []client.Option{client.WithBackoff(20*time.Millisecond, 500*time.Millisecond), client.WithMaxRetries(60)}
	if mc.adminToken != "" {
		opts = append(opts, client.WithToken(mc.adminToken))
	}
	c, err := client.New(mc.apis, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestShutdownHandsOffLeadership stops the leader of a zone (which also
// leads the meta group) and checks that a new leader takes over at once,
// by transfer: well within the 1s election timeout, in the next term, and
// with no node reaching its election timeout.
func TestShutdownHandsOffLeadership(t *testing.T) {
	var count sync.Map
	mc := setupZonesWith(t, []string{"A", "B"}, 3, countElections(&count, slowElections))
	// The meta leader also leads its zone: both hand off.
	i := mc.leadBoth(t)
	z := mc.cfgs[i].Zone
	term := mc.nodes[i].zones.Own().Replica().Raft().CurrentTerm()
	before := elections(&count)

	start := time.Now()
	var zoneAt, metaAt atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for zoneAt.Load() == 0 || metaAt.Load() == 0 {
			for j, nd := range mc.nodes {
				if j == i {
					continue
				}
				if h := nd.zones.Own(); h != nil && mc.cfgs[j].Zone == z && h.Replica().IsLeader() {
					zoneAt.CompareAndSwap(0, int64(time.Since(start)))
				}
				if nd.meta.IsLeader() {
					metaAt.CompareAndSwap(0, int64(time.Since(start)))
				}
			}
			if time.Since(start) > 10*time.Second {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	mc.nodes[i].Shutdown(context.Background())
	<-done
	zoneTook, metaTook := time.Duration(zoneAt.Load()), time.Duration(metaAt.Load())
	t.Logf("new zone leader after %s, new meta leader after %s (shutdown took %s)", zoneTook, metaTook, time.Since(start))
	if zoneTook == 0 || zoneTook >= time.Second || metaTook == 0 || metaTook >= time.Second {
		t.Fatalf("new leaders after %s (zone) and %s (meta): not handed off, elected after the 1s timeout", zoneTook, metaTook)
	}
	j := mc.zoneLeader(z)
	if got := mc.nodes[j].zones.Own().Replica().Raft().CurrentTerm(); got != term+1 {
		t.Fatalf("zone %s's term went from %d to %d: the transfer should take exactly one term", z, term, got)
	}
	time.Sleep(1500 * time.Millisecond) // past the election timeout
	if n := elections(&count) - before; n != 0 {
		t.Fatalf("%d election timeouts after the leader's shutdown", n)
	}
	// The zone serves payments under its new leader.
	c := mc.adminClient(t)
	ctx := context.Background()
	u := mc.userIn(t, z)
	if _, err := c.PutAccount(ctx, u, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(ctx, u, client.PayRequest{Key: "after-handoff", Amount: 10, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
}

// leadBoth makes the meta leader lead its own zone too and returns it.
func (mc *multiCluster) leadBoth(t *testing.T) int {
	t.Helper()
	waitFor(t, 10*time.Second, "a meta leader", func() bool { return mc.metaLeader() >= 0 })
	i := mc.metaLeader()
	z := mc.cfgs[i].Zone
	waitFor(t, 10*time.Second, "the meta leader leads its zone", func() bool {
		j := mc.zoneLeader(z)
		if j == i {
			return true
		}
		if j >= 0 {
			mc.nodes[j].zones.Own().Replica().Raft().LeadershipTransferToServer(raft.ServerID(mc.cfgs[i].NodeID), raft.ServerAddress(mc.cfgs[i].raftAdvertise())).Error()
		}
		return false
	})
	if mc.metaLeader() != i {
		t.Fatal("the meta leadership moved meanwhile")
	}
	return i
}

// userIn returns a user the route table gives to zone z.
func (mc *multiCluster) userIn(t *testing.T, z string) uint64 {
	t.Helper()
	for _, nd := range mc.nodes {
		if nd == nil || nd.closing.Load() {
			continue
		}
		st := nd.metaFSM.State()
		for u := uint64(1000); u < 1100; u++ {
			if zz, _ := st.Route(u); zz == z {
				return u
			}
		}
	}
	t.Fatalf("no user in zone %s", z)
	return 0
}

// TestDrainMovesEveryLeadershipAway drains the node that leads the meta
// group and its zone, through another node: the reply lists both groups
// moved to other nodes; a leadership given back to it later moves away on
// its own; an undrain lets it lead again.
func TestDrainMovesEveryLeadershipAway(t *testing.T) {
	mc := setupZones(t, []string{"A", "B"}, 2)
	i := mc.leadBoth(t)
	z := mc.cfgs[i].Zone
	id := mc.cfgs[i].NodeID
	other := (i + 2) % len(mc.nodes) // a node of the other zone: the request is forwarded
	c, _ := client.New([]string{mc.apis[other]}, client.WithMaxRetries(20), client.WithBackoff(20*time.Millisecond, 300*time.Millisecond))
	ctx := context.Background()
	d, err := c.DrainNode(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drain: %+v", d)
	moved := map[string]string{}
	for _, m := range d.Moved {
		moved[m.Group] = m.To
	}
	if !d.Drained || len(d.Moved) != 2 || moved["meta"] == "" || moved["meta"] == id || moved["zone/"+z] == "" || moved["zone/"+z] == id {
		t.Fatalf("drain reply: %+v", d)
	}
	if g := mc.nodes[i].zones.LedWith(mc.nodes[i].meta); len(g) != 0 {
		t.Fatalf("the drained node still leads %v", g)
	}
	if !mc.nodes[other].metaFSM.State().Drained(id) {
		waitFor(t, 5*time.Second, "the drain recorded in every meta replica", func() bool { return mc.nodes[other].metaFSM.State().Drained(id) })
	}

	// Given the zone's leadership back, it hands it off again.
	j := -1
	waitFor(t, 10*time.Second, "a leader of the drained node's zone", func() bool { j = mc.zoneLeader(z); return j >= 0 })
	mc.nodes[j].zones.Own().Replica().Raft().LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(mc.cfgs[i].raftAdvertise())).Error()
	waitFor(t, 10*time.Second, "the drained node hands its zone off again", func() bool {
		k := mc.zoneLeader(z)
		return k >= 0 && k != i
	})

	if u, err := c.UndrainNode(ctx, id); err != nil || u.Drained {
		t.Fatalf("undrain: %+v %v", u, err)
	}
	waitFor(t, 5*time.Second, "undrained everywhere", func() bool { return !mc.nodes[i].metaFSM.State().Drained(id) })
	j = mc.zoneLeader(z)
	if err := mc.nodes[j].zones.Own().Replica().Raft().LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(mc.cfgs[i].raftAdvertise())).Error(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if !mc.nodes[i].zones.Own().Replica().IsLeader() {
		t.Fatal("the undrained node did not keep the leadership it was given")
	}
	if _, err := c.DrainNode(ctx, "nobody"); err == nil {
		t.Fatal("drained a node that does not exist")
	}
}

// TestDrainedNodeTakesNoSchedulerTask drains one of zone A's two nodes and
// runs a statement job: zone A's tasks all go to the other node.
func TestDrainedNodeTakesNoSchedulerTask(t *testing.T) {
	mc := setupZonesWith(t, []string{"A", "B"}, 2, schedTune)
	ctx := context.Background()
	c := mc.adminClient(t)
	const users = 120
	var batch []client.BatchPayment
	for u := uint64(0); u < users; u++ {
		if _, err := c.PutAccount(ctx, u, 10_000); err != nil {
			t.Fatalf("put account %d: %v", u, err)
		}
		batch = append(batch, client.BatchPayment{User: u, Key: "p", Amount: 100, Merchant: "m"})
	}
	if _, err := c.PayBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	cycleText := time.Now().UTC().Format("200601")
	cycle, _ := api.ParseCycle(cycleText)
	waitFor(t, 20*time.Second, "every payment posted into a bill", func() bool { return len(mc.tryDueUsers(t, cycle)) == users })

	drained := 1 // a2
	if _, err := c.DrainNode(ctx, mc.cfgs[drained].NodeID); err != nil {
		t.Fatal(err)
	}
	run, _, err := c.StartRun(ctx, "statement", cycleText)
	if err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, c, run.ID, 60*time.Second, func(r *client.Run) bool { return r.State != "running" })
	if r.State != "done" || r.UsersDone != users {
		t.Fatalf("run: %+v", r)
	}
	worked := func(i int) float64 {
		mfs, err := mc.nodes[i].metrics.Reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "rzone_sched_worker_users_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
					return l.GetName() == "job" && l.GetValue() == fsm.JobStatement
				}) {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	t.Logf("users worked: a1 %v, a2 (drained) %v, b1 %v, b2 %v", worked(0), worked(1), worked(2), worked(3))
	if worked(drained) != 0 {
		t.Fatalf("the drained node worked %v users", worked(drained))
	}
	if worked(0) == 0 {
		t.Fatal("zone A's other node worked no user")
	}
}

// TestRemoveDeadNodeThenReplaceIt loses a node that votes in the meta
// group, removes it, and checks that it leaves every group (its zone's,
// the meta group, the async followers in another zone), that a spare takes
// its meta vote, that a replacement with a new id joins as a voter of the
// zone and serves, and that the removed id cannot come back.
func TestRemoveDeadNodeThenReplaceIt(t *testing.T) {
	mc := setupZones(t, []string{"A", "B"}, 3)
	ctx := context.Background()
	c := mc.adminClient(t)
	// Meta voters are a1, b1 and a2 (round robin over the zones).
	dead := 0 // a1
	id := mc.cfgs[dead].NodeID
	if !isMetaVoter(mc.nodes[dead]) {
		t.Fatalf("%s is no meta voter", id)
	}
	mc.nodes[dead].Shutdown(ctx)

	rm, err := c.RemoveNode(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removal: %+v", rm)
	if rm.MetaVoter != "a3" || strings.Join(rm.Groups, ",") != "zone/A,meta,zone/B" {
		t.Fatalf("removal reply: %+v", rm)
	}
	if again, err := c.RemoveNode(ctx, id); err != nil || again.Node != id {
		t.Fatalf("a repeated removal: %+v %v", again, err)
	}
	b := 3 // b1
	waitFor(t, 10*time.Second, "a1 out of the meta group, a3 a meta voter", func() bool {
		s, _ := mc.nodes[b].meta.Members()
		voters := 0
		for _, m := range s {
			if m.Suffrage == raft.Voter {
				voters++
			}
			if string(m.ID) == "a3" && m.Suffrage != raft.Voter {
				return false
			}
		}
		return !zone.HasServer(s, id) && voters == 3
	})
	waitFor(t, 10*time.Second, "a1 out of zone A's group", func() bool { return !inGroup(mc.nodes[1].zones.Own().Replica(), id) })
	waitFor(t, 10*time.Second, "a1 out of zone B's group (its async followers)", func() bool { return !inGroup(mc.nodes[b].zones.Own().Replica(), id) })

	// A replacement with a new id joins by gossip.
	addrs := testnet.Addrs(t, 3)
	cfg := mc.cfgs[dead]
	cfg.NodeID, cfg.DataDir = "a4", filepath.Join(t.TempDir(), "a4")
	cfg.RaftAddr, cfg.HTTPAddr, cfg.GossipAddr = addrs[0], addrs[1], addrs[2]
	cfg.RaftAdvertise, cfg.HTTPAdvertise, cfg.GossipAdvertise = "", "", ""
	cfg.GossipSeeds = []string{mc.cfgs[b].GossipAddr}
	a4, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mc.cfgs, mc.nodes, mc.apis = append(mc.cfgs, cfg), append(mc.nodes, a4), append(mc.apis, cfg.HTTPAddr)
	waitFor(t, 20*time.Second, "a4 a voter of zone A with the zone's state", func() bool {
		s, _ := mc.nodes[1].zones.Own().Replica().Members()
		for _, m := range s {
			if m.ID == "a4" && m.Suffrage == raft.Voter {
				return a4.zones.Own() != nil && a4.zones.Own().Ready()
			}
		}
		return false
	})
	u := mc.userIn(t, "A")
	if _, err := c.PutAccount(ctx, u, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(ctx, u, client.PayRequest{Key: "after-replace", Amount: 10, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a4 has the payment", func() bool {
		_, err := a4.zones.Own().FSM().Payment(u, "after-replace")
		return err == nil
	})

	// The removed id, started again from scratch, stays out.
	back := mc.cfgs[dead]
	back.DataDir = filepath.Join(t.TempDir(), "a1-again")
	back.GossipSeeds = []string{mc.cfgs[b].GossipAddr}
	a1, err := Start(back)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a1.Shutdown(context.Background()) })
	waitFor(t, 10*time.Second, "gossip sees a1 again", func() bool {
		for _, m := range mc.nodes[b].gossip.Alive() {
			if m.NodeID == id {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second) // several converge rounds of the meta leader
	st := mc.nodes[b].metaFSM.State()
	if _, ok := st.Node(id); ok || !st.Removed(id) {
		t.Fatalf("the removed id came back: %+v", st.Nodes)
	}
	if inGroup(mc.nodes[1].zones.Own().Replica(), id) {
		t.Fatal("the removed id is back in zone A")
	}
	if _, err := c.RemoveNode(ctx, "nobody"); err == nil {
		t.Fatal("removed a node that does not exist")
	}
}

// inGroup reports whether node id is in the configuration of rep's group.
func inGroup(rep *zone.Replica, id string) bool {
	s, _ := rep.Members()
	return zone.HasServer(s, id)
}

// TestRemoveLiveNodeHandsOffAndLeaves removes a running node that leads
// its zone: it hands the leadership off (no election timeout), leaves its
// zone's group and the async followers, and its zone goes on serving.
func TestRemoveLiveNodeHandsOffAndLeaves(t *testing.T) {
	var count sync.Map
	mc := setupZonesWith(t, []string{"A", "B"}, 3, countElections(&count, slowElections))
	ctx := context.Background()
	c := mc.adminClient(t)
	i := mc.zoneLeader("B")
	id := mc.cfgs[i].NodeID
	// The removed node itself may time out: it is told of its removal
	// or not, and its elections are refused (pre-vote) either way.
	before := elections(&count, id)
	if _, err := c.RemoveNode(ctx, id); err != nil {
		t.Fatal(err)
	}
	other := 0 // a1, in zone A: zone B backs up zone A, so the removed node followed A
	waitFor(t, 10*time.Second, id+" out of zone B's group and of zone A's followers", func() bool {
		j := mc.zoneLeader("B")
		return j >= 0 && j != i && !inGroup(mc.nodes[j].zones.Own().Replica(), id) && !inGroup(mc.nodes[other].zones.Own().Replica(), id)
	})
	time.Sleep(1500 * time.Millisecond) // past the election timeout
	if n := elections(&count, id) - before; n != 0 {
		t.Fatalf("%d election timeouts: the removed leader did not hand off", n)
	}
	u := mc.userIn(t, "B")
	if _, err := c.PutAccount(ctx, u, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(ctx, u, client.PayRequest{Key: "after-remove", Amount: 10, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
}
