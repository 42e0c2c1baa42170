package zone

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/logging"
)

// raftLogger is the hclog logger raft writes to, with raftLevel's rule.
func raftLogger(log *slog.Logger) hclog.Logger { return logging.HCLogRules(log, "raft", raftLevel) }

// peerRPCFailures are raft's messages for an RPC to one peer that failed.
var peerRPCFailures = map[string]bool{
	"failed to appendEntries to":              true,
	"failed to heartbeat to":                  true,
	"failed to make requestVote RPC":          true,
	"failed to start pipeline replication to": true,
	"failed to pipeline appendEntries":        true,
	"failed to send snapshot to":              true,
	"failed to install snapshot":              true,
}

// raftLevel writes at WARN, not ERROR, raft's lines about a peer it cannot
// reach (refused, reset or closed connections, timeouts): a peer being down
// or restarting is what a group of three or five rides out, it is seen in
// rzone_raft_last_contact_seconds and rzone_raft_has_leader, and raft itself
// logs a lost quorum. The receiving side of the node's own transport closing
// ("transport shutdown") is DEBUG. Any other error stays an ERROR.
func raftLevel(level hclog.Level, msg string, args []any) hclog.Level {
	if level != hclog.Error {
		return level
	}
	if msg == "peer has newer term, stopping replication" {
		// A deposed leader learning of its successor: what every
		// leadership transfer (a drain, a shutdown's hand-off) ends with.
		return hclog.Warn
	}
	err := argError(args)
	if err == nil {
		return level
	}
	switch {
	case msg == "failed to decode incoming command" && errors.Is(err, raft.ErrTransportShutdown):
		return hclog.Debug
	case (peerRPCFailures[msg] || msg == "failed to decode incoming command") && isConnError(err):
		return hclog.Warn
	}
	return level
}

func argError(args []any) error {
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "error" {
			err, _ := args[i+1].(error)
			return err
		}
	}
	return nil
}

// isConnError reports whether err says a connection to a peer could not be
// made or was lost, or that the peer's transport is shutting down. raft's
// msgpack codec formats the read error it wraps with %v, and a peer's own
// error arrives as text only, so the text is checked too.
func isConnError(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, raft.ErrTransportShutdown), errors.As(err, &ne):
		return true
	}
	s := err.Error()
	for _, t := range []string{"connection refused", "connection reset", "broken pipe", "use of closed network connection", "EOF", "i/o timeout", raft.ErrTransportShutdown.Error()} {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}
