package zone

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestHeartbeatGuard: a replica's Shutdown closes its stores only once no
// heartbeat is being handled (hashicorp/raft handles heartbeats on the
// transport's goroutine, where a term saved to a closed store panics the
// node), and heartbeats that arrive after are answered with an error, not
// handled.
func TestHeartbeatGuard(t *testing.T) {
	inner, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g := &heartbeatGuard{NetworkTransport: inner}
	defer g.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	g.SetHeartbeatHandler(func(rpc raft.RPC) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		rpc.Respond(&raft.AppendEntriesResponse{Term: 2, Success: true}, nil)
	})
	leader, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	heartbeat := func() error {
		var resp raft.AppendEntriesResponse
		req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("leader"), Addr: []byte(leader.LocalAddr())}, Term: 2}
		return leader.AppendEntries("follower", g.LocalAddr(), req, &resp)
	}

	first := make(chan error, 1)
	go func() { first <- heartbeat() }()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the heartbeat never reached its handler")
	}
	stopped := make(chan struct{})
	go func() { g.stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("stop returned while a heartbeat was being handled: the stores could close under it")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return once the heartbeat was handled")
	}
	if err := <-first; err != nil {
		t.Fatalf("the heartbeat in flight: %v", err)
	}
	if err := heartbeat(); err == nil || !strings.Contains(err.Error(), raft.ErrTransportShutdown.Error()) {
		t.Fatalf("a heartbeat after stop: %v, want %q", err, raft.ErrTransportShutdown)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1 (none after stop)", n)
	}
}

// slowStable is a stable store whose first armed SetUint64 (a new term)
// waits for release, and which fails every write once closed.
type slowStable struct {
	*raft.InmemStore
	armed, closed    atomic.Bool
	entered, release chan struct{}
	once             sync.Once
	afterClose       atomic.Int32
}

func (s *slowStable) SetUint64(k []byte, v uint64) error {
	if s.armed.Load() {
		s.once.Do(func() { close(s.entered); <-s.release })
	}
	if s.closed.Load() {
		s.afterClose.Add(1)
		return errors.New("closed")
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
// the stores can close after it, and a heartbeat after never reaches them
// (without the guard, the save hits the closed store and raft panics).
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
	st.closed.Store(true)
	heartbeat(9) //nolint:errcheck // the connection may be dropped
	time.Sleep(100 * time.Millisecond)
	if n := st.afterClose.Load(); n != 0 {
		t.Fatalf("%d stable-store writes after the store closed", n)
	}
}
