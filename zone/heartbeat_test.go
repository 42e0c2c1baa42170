package zone

import (
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
	if err := heartbeat(); err == nil || !strings.Contains(err.Error(), errStopping.Error()) {
		t.Fatalf("a heartbeat after stop: %v, want %q", err, errStopping)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1 (none after stop)", n)
	}
}
