package zone

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/mux"
)

type testReplica struct {
	rep *Replica
	f   *fsm.FSM
	mux *mux.Mux
	dir string
}

func openTestReplica(t *testing.T, group, id, dir string) *testReplica {
	t.Helper()
	return openTestReplicaAt(t, group, id, dir, "127.0.0.1:0")
}

func openTestReplicaAt(t *testing.T, group, id, dir, addr string) *testReplica {
	t.Helper()
	return openTestReplicaWith(t, group, id, dir, addr, nil)
}

// openTestReplicaWith is openTestReplicaAt with set, if not nil, changing
// the replica's config.
func openTestReplicaWith(t *testing.T, group, id, dir, addr string, set func(*ReplicaConfig)) *testReplica {
	t.Helper()
	m, err := mux.Listen(addr, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := m.Layer(group)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := fsm.Open(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ReplicaConfig{Group: group, NodeID: id, Dir: dir, Stream: layer, SelfRestoring: true,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		SnapshotThreshold: 64, SnapshotInterval: 200 * time.Millisecond, TrailingLogs: 16, MaxAppendEntries: 64}
	if set != nil {
		set(&cfg)
	}
	rep, err := OpenReplica(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	return &testReplica{rep: rep, f: f, mux: m, dir: dir}
}

func (r *testReplica) close() {
	r.rep.Shutdown()
	r.f.Close()
	r.mux.Close()
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pay(user uint64, key string, amount int64) []byte {
	return fsm.Encode(nil, fsm.Command{Type: fsm.CmdPay, User: user, Time: 1, Key: key, Amount: amount, Merchant: "m"})
}

// TestPromoteFollowerIntoNewGroup loses a whole zone (three voters) and
// promotes its async follower into a writable group of a new name: the new
// group holds every entry the follower had, replays old keys as replays, and
// takes new writes and new members.
func TestPromoteFollowerIntoNewGroup(t *testing.T) {
	dir := t.TempDir()
	var voters []*testReplica
	for i := 0; i < 3; i++ {
		voters = append(voters, openTestReplica(t, "zone/A", fmt.Sprintf("a%d", i+1), filepath.Join(dir, fmt.Sprint("a", i))))
	}
	var servers []raft.Server
	for i, v := range voters {
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("a%d", i+1)), Address: raft.ServerAddress(v.mux.Addr().String())})
	}
	for _, v := range voters {
		if err := v.rep.Bootstrap(servers); err != nil {
			t.Fatal(err)
		}
	}
	follower := openTestReplica(t, "zone/A", "b1", filepath.Join(dir, "b1"))
	var leader *testReplica
	wait(t, "a leader", func() bool {
		for _, v := range voters {
			if v.rep.IsLeader() {
				leader = v
				return true
			}
		}
		return false
	})
	if err := leader.rep.AddServer("b1", raft.ServerAddress(follower.mux.Addr().String()), false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.rep.Apply(fsm.Encode(nil, fsm.Command{Type: fsm.CmdPutAccount, User: 7, Time: 1, CreditLimit: 1_000_000}), time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ { // enough to take snapshots and truncate the log
		if _, err := leader.rep.Apply(pay(7, fmt.Sprintf("k%d", i), 10), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	last := leader.rep.Raft().LastIndex()
	wait(t, "the follower to apply everything", func() bool { return follower.f.AppliedIndex() >= leader.f.AppliedIndex() })

	// The zone is lost; the follower stops.
	for _, v := range voters {
		v.close()
	}
	follower.close()

	// The follower had also received an entry it had not applied yet (an
	// async follower learns of commits after it gets the entries): put one
	// at the end of its log, as the last leader would have sent it.
	logs, _, err := openRaftStore(follower.dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tail, _ := logs.LastIndex()
	var prev raft.Log
	if err := logs.GetLog(tail, &prev); err != nil {
		t.Fatal(err)
	}
	if err := logs.StoreLog(&raft.Log{Index: tail + 1, Term: prev.Term, Type: raft.LogCommand, Data: pay(7, "received", 10)}); err != nil {
		t.Fatal(err)
	}
	logs.Close()

	// Promote the follower's files into failover/A with b1 as sole voter.
	fo := filepath.Join(dir, "failover-A")
	m, _ := mux.Listen("127.0.0.1:0", nil, nil)
	defer m.Close()
	layer, _ := m.Layer("failover/A")
	cfg := ReplicaConfig{Group: "failover/A", NodeID: "b1", Dir: fo, Stream: layer, SelfRestoring: true,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		SnapshotThreshold: 64, SnapshotInterval: time.Second, TrailingLogs: 16, MaxAppendEntries: 64}
	err = Promote(cfg, follower.dir, []raft.Server{{ID: "b1", Address: raft.ServerAddress(m.Addr().String())}},
		func(path string) (StateMachine, io.Closer, error) {
			f, err := fsm.Open(path, nil)
			return f, f, err
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsm.Open(filepath.Join(fo, "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := OpenReplica(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Shutdown()
	wait(t, "the promoted replica to lead", rep.IsLeader)

	if f.AppliedIndex() < last-1 {
		t.Fatalf("promoted replica applied %d, zone's last index %d", f.AppliedIndex(), last)
	}
	// Every key the replica had received is known to the new group: the
	// received entry was applied by the recovery, and its key replays.
	out, err := rep.Apply(pay(7, "received", 10), time.Second)
	if err != nil || !out.([]fsm.Result)[0].Replay {
		t.Fatalf("a key the replica had received was not known to the promoted group: %v %+v", err, out)
	}
	out, err = rep.Apply(pay(7, "k5", 10), time.Second) // a key the zone had accepted
	if err != nil {
		t.Fatal(err)
	}
	if r := out.([]fsm.Result)[0]; !r.Replay {
		t.Fatalf("old key k5 was not a replay in the promoted group: %+v", r)
	}
	out, err = rep.Apply(pay(7, "new", 10), time.Second)
	if err != nil || out.([]fsm.Result)[0].Code != fsm.OK {
		t.Fatalf("new payment in the promoted group: %v %+v", err, out)
	}
	if a, _ := f.Account(7); a.Accepted != 202*10 {
		t.Fatalf("account after promotion: %+v", a)
	}
	// The source files are untouched: the old group can still open them.
	if err := Promote(cfg, follower.dir, nil, nil, nil); err == nil {
		t.Fatal("promoting into an existing group was allowed")
	}
}

// TestPromotedStoreMembersAgree promotes a sharded zone's follower with a
// seal (the failover store's "no shard before CmdFailover" mark) and adds
// two members, which start from the recovery's snapshot: a payment applied
// before CmdFailover gets the same answer on every member (refused: no
// member serves a shard yet), and every member's state digest is the same,
// before CmdFailover and after.
func TestPromotedStoreMembersAgree(t *testing.T) {
	dir := t.TempDir()
	a1 := openTestReplica(t, "zone/A", "a1", filepath.Join(dir, "a1"))
	if err := a1.rep.Bootstrap([]raft.Server{{ID: "a1", Address: raft.ServerAddress(a1.mux.Addr().String())}}); err != nil {
		t.Fatal(err)
	}
	b1 := openTestReplica(t, "zone/A", "b1", filepath.Join(dir, "b1"))
	wait(t, "a leader", a1.rep.IsLeader)
	if err := a1.rep.AddServer("b1", raft.ServerAddress(b1.mux.Addr().String()), false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	apply := func(r *Replica, cmds ...fsm.Command) []fsm.Result {
		t.Helper()
		out, err := r.Apply(fsm.Encode(nil, cmds...), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return out.([]fsm.Result)
	}
	apply(a1.rep, fsm.Command{Type: fsm.CmdSetShards, Shards: []byte{7}, Epoch: 1, Own: true})
	apply(a1.rep, fsm.Command{Type: fsm.CmdPutAccount, User: 7, Time: 1, CreditLimit: 1_000_000})
	for i := 0; i < 100; i++ {
		apply(a1.rep, fsm.Command{Type: fsm.CmdPay, User: 7, Time: 1, Key: fmt.Sprintf("k%d", i), Amount: 10, Merchant: "m"})
	}
	wait(t, "the follower to apply everything", func() bool { return b1.f.AppliedIndex() >= a1.f.AppliedIndex() })
	a1.close()
	b1.close()

	var members []*testReplica
	seed := filepath.Join(dir, "store-b1")
	m, _ := mux.Listen("127.0.0.1:0", nil, nil)
	m.Close() // only its address: the seed opens its own listener on it below
	cfg := ReplicaConfig{Group: "zone/A-f2", NodeID: "b1", Dir: seed, SelfRestoring: true}
	var sm *fsm.FSM
	err := Promote(cfg, b1.dir, []raft.Server{{ID: "b1", Address: raft.ServerAddress(m.Addr().String())}},
		func(path string) (StateMachine, io.Closer, error) {
			var err error
			sm, err = fsm.Open(path, nil)
			return sm, sm, err
		},
		func() error { return sm.MarkPromoted() })
	if err != nil {
		t.Fatal(err)
	}
	members = append(members, openTestReplicaAt(t, "zone/A-f2", "b1", seed, m.Addr().String()))
	for _, id := range []string{"b2", "b3"} {
		members = append(members, openTestReplica(t, "zone/A-f2", id, filepath.Join(dir, "store-"+id)))
	}
	defer func() {
		for _, r := range members {
			r.close()
		}
	}()
	leader := members[0]
	wait(t, "the promoted replica to lead", leader.rep.IsLeader)
	for _, r := range members[1:] {
		if err := leader.rep.AddServer(r.rep.cfg.NodeID, raft.ServerAddress(r.mux.Addr().String()), true, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	agree := func(when string) {
		t.Helper()
		want := leader.f.AppliedIndex()
		var first [32]byte
		for i, r := range members {
			wait(t, r.rep.cfg.NodeID+" to apply everything", func() bool { return r.f.AppliedIndex() >= want })
			applied, sum, err := r.f.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = sum
			} else if sum != first {
				t.Fatalf("%s: the state digest of %s at %d differs from %s's", when, r.rep.cfg.NodeID, applied, leader.rep.cfg.NodeID)
			}
		}
	}
	// A write that reaches the store's log before its CmdFailover.
	early := fsm.Command{Type: fsm.CmdPay, User: 7, Time: 2, Key: "early", Amount: 10, Merchant: "m"}
	if r := apply(leader.rep, early)[0]; r.Code != fsm.WrongZone {
		t.Fatalf("a payment before CmdFailover: %+v, want wrong_zone", r)
	}
	agree("before CmdFailover")
	for _, r := range members {
		if p, _ := r.f.Payment(7, "early"); p != nil {
			t.Fatalf("%s took the payment applied before CmdFailover: %+v", r.rep.cfg.NodeID, p)
		}
	}
	apply(leader.rep, fsm.Command{Type: fsm.CmdFailover, NodeID: "A", Epoch: 2, Amount: 20})
	if r := apply(leader.rep, fsm.Command{Type: fsm.CmdPay, User: 7, Time: 3, Key: "late", Amount: 10, Merchant: "m"})[0]; r.Code != fsm.OK {
		t.Fatalf("a payment after CmdFailover: %+v", r)
	}
	agree("after CmdFailover")
}
