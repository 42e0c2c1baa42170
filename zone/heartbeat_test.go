package zone

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestHeartbeatGuard: closing a replica's transport (Raft.Shutdown does, and
// the stores close after) waits while a heartbeat is being handled
// (hashicorp/raft handles heartbeats on the transport's goroutine, where a
// term saved to a closed store panics the node), and a heartbeat that
// arrives after, on a connection the transport accepted before, is not
// handled.
func TestHeartbeatGuard(t *testing.T) {
	g, leader, calls, entered, release := guardPair(t, true)
	heartbeat := guardHeartbeat(g, leader)

	first := make(chan error, 1)
	go func() { first <- heartbeat() }()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the heartbeat never reached its handler")
	}
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a heartbeat was being handled: the stores could close under it")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return once the heartbeat was handled")
	}
	if err := <-first; err != nil {
		t.Fatalf("the heartbeat in flight: %v", err)
	}
	// The leader's pooled connection from the first heartbeat is still
	// open (closing a NetworkTransport closes its listener, not the
	// connections it accepted): this one reaches the guard.
	if err := heartbeat(); err == nil {
		t.Fatal("a heartbeat after Close was answered as handled")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1 (none after Close)", n)
	}
}

// TestHeartbeatGuardAnswersOnceStopped: between the fence and the
// transport's close, a heartbeat is answered with the closed transport's own
// error, which a peer logs as a peer going away (raftLevel), not handled.
func TestHeartbeatGuardAnswersOnceStopped(t *testing.T) {
	g, leader, calls, _, _ := guardPair(t, false)
	defer g.Close()
	g.stop()
	err := guardHeartbeat(g, leader)()
	if err == nil || err.Error() != raft.ErrTransportShutdown.Error() {
		t.Fatalf("a heartbeat after stop: %v, want %q", err, raft.ErrTransportShutdown)
	}
	if got := raftLevel(hclog.Error, "failed to heartbeat to", []any{"error", err}); got != hclog.Warn {
		t.Errorf("the leader logs that answer at %s, want WARN", got)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times after stop", n)
	}
}

// guardPair is a guard over a real TCP transport with a counting heartbeat
// handler (the first call waits for release when block is set) and a leader
// transport to send heartbeats from.
func guardPair(t *testing.T, block bool) (g *heartbeatGuard, leader *raft.NetworkTransport, calls *atomic.Int32, entered, release chan struct{}) {
	t.Helper()
	inner, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g = &heartbeatGuard{NetworkTransport: inner}
	t.Cleanup(func() { g.Close() })
	entered, release = make(chan struct{}), make(chan struct{})
	calls = new(atomic.Int32)
	g.SetHeartbeatHandler(func(rpc raft.RPC) {
		if calls.Add(1) == 1 && block {
			close(entered)
			<-release
		}
		rpc.Respond(&raft.AppendEntriesResponse{Term: 2, Success: true}, nil)
	})
	leader, err = raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leader.Close() })
	return g, leader, calls, entered, release
}

// guardHeartbeat sends one heartbeat of term 2 from leader to g.
func guardHeartbeat(g *heartbeatGuard, leader *raft.NetworkTransport) func() error {
	return func() error {
		var resp raft.AppendEntriesResponse
		req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("leader"), Addr: []byte(leader.LocalAddr())}, Term: 2}
		return leader.AppendEntries("follower", g.LocalAddr(), req, &resp)
	}
}

// slowStable is a stable store whose first armed SetUint64 (a new term)
// waits for release.
type slowStable struct {
	*raft.InmemStore
	armed            atomic.Bool
	entered, release chan struct{}
	once             sync.Once
}

func (s *slowStable) SetUint64(k []byte, v uint64) error {
	if s.armed.Load() {
		s.once.Do(func() { close(s.entered); <-s.release })
	}
	return s.InmemStore.SetUint64(k, v)
}

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("no snapshots") }
func (nopFSM) Restore(io.ReadCloser) error         { return nil }

// TestShutdownWaitsForAHeartbeatInFlight runs hashicorp/raft itself over the
// guard, as a replica does: a heartbeat with a new term is saving it when
// Raft.Shutdown is called; Shutdown returns only once that save is done, so
// the stores can close after it (without the guard, Shutdown returns at
// once, the stores close, the save hits the closed store and raft panics).
// Heartbeats after the close are TestHeartbeatGuard's.
func TestShutdownWaitsForAHeartbeatInFlight(t *testing.T) {
	inner, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g := &heartbeatGuard{NetworkTransport: inner}
	st := &slowStable{InmemStore: raft.NewInmemStore(), entered: make(chan struct{}), release: make(chan struct{})}
	conf := raft.DefaultConfig()
	conf.LocalID = "follower"
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = time.Hour, time.Hour, time.Hour
	conf.Logger = hclog.NewNullLogger()
	r, err := raft.NewRaft(conf, nopFSM{}, st.InmemStore, st, raft.NewInmemSnapshotStore(), g)
	if err != nil {
		t.Fatal(err)
	}
	leader, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	heartbeat := func(term uint64) error {
		var resp raft.AppendEntriesResponse
		req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("leader"), Addr: []byte(leader.LocalAddr())}, Term: term}
		return leader.AppendEntries("follower", g.LocalAddr(), req, &resp)
	}
	st.armed.Store(true)
	go heartbeat(5) //nolint:errcheck // answered or not, what matters is the store
	select {
	case <-st.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the heartbeat never reached the stable store")
	}
	shut := make(chan error, 1)
	go func() { shut <- r.Shutdown().Error() }()
	select {
	case err := <-shut:
		t.Fatalf("Raft.Shutdown returned (%v) while a heartbeat was saving a term", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(st.release)
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Raft.Shutdown did not return once the heartbeat was done")
	}
}
