package zone

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

func TestRaftLevel(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	tests := []struct {
		name  string
		level hclog.Level
		msg   string
		err   error
		want  hclog.Level
	}{
		{"heartbeat to a stopped peer", hclog.Error, "failed to heartbeat to", refused, hclog.Warn},
		{"append to a peer that reset", hclog.Error, "failed to appendEntries to",
			errors.New("msgpack decode error [pos 0]: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"), hclog.Warn},
		{"heartbeat to a peer whose transport is closing (its answer arrives as text)", hclog.Error, "failed to heartbeat to",
			errors.New(raft.ErrTransportShutdown.Error()), hclog.Warn},
		{"own transport closing", hclog.Error, "failed to decode incoming command", raft.ErrTransportShutdown, hclog.Debug},
		{"a disk error stays an error", hclog.Error, "failed to append to logs", errors.New("input/output error"), hclog.Error},
		{"a peer's refusal that is no network error stays", hclog.Error, "failed to appendEntries to", errors.New("unknown rpc type 9"), hclog.Error},
		{"info is left alone", hclog.Info, "failed to heartbeat to", refused, hclog.Info},
		{"a deposed leader learning of its successor", hclog.Error, "peer has newer term, stopping replication", nil, hclog.Warn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := raftLevel(tt.level, tt.msg, []any{"peer", "b1", "error", tt.err}); got != tt.want {
				t.Errorf("level %s, want %s", got, tt.want)
			}
		})
	}
}
