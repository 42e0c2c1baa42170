package zone

import (
	"errors"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/peer"
)

// Errors of a replica, kept apart from business outcomes all the way to the
// API's codes.
var (
	// ErrNotLeader means this replica cannot serve the request itself; the
	// caller forwards it to the leader.
	ErrNotLeader = errors.New("zone: not the leader")
	// ErrNoLeader means no leader was known in time.
	ErrNoLeader = errors.New("zone: no leader")
	// ErrNotApplied means the write was refused before it reached the log
	// (or a call carrying it never reached the other node).
	ErrNotApplied = peer.ErrNotApplied
	// ErrUnknownOutcome means the write reached the log and may or may not
	// commit (or a call carrying it got no answer).
	ErrUnknownOutcome = peer.ErrUnknownOutcome
	// ErrShutdown means the replica is stopping.
	ErrShutdown = errors.New("zone: shutting down")
	// ErrLeaseExpired means the zone's leader holds no valid ownership lease
	// from the meta group and may not accept writes.
	ErrLeaseExpired = errors.New("zone: ownership lease expired")
	// ErrNotHosted means this node holds no replica of the group.
	ErrNotHosted = errors.New("zone: group not hosted on this node")
	// ErrHasState means a folder to seed a new replica in already holds
	// Raft state.
	ErrHasState = errors.New("zone: folder already holds raft state")
)

// classifyApply maps a raft.Apply error to whether the write may have
// committed. ErrNotLeader and ErrEnqueueTimeout are returned before the
// entry is appended; every other failure after the entry was handed to raft
// leaves the outcome unknown.
func classifyApply(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return errors.Join(ErrNotLeader, err)
	case errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Refused before the entry reached the log.
		return errors.Join(ErrNotApplied, err)
	default: // ErrLeadershipLost, ErrRaftShutdown, ErrAbortedByRestore, timeouts
		return errors.Join(ErrUnknownOutcome, err)
	}
}

func readErr(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return errors.Join(ErrNotLeader, err)
	}
	return errors.Join(ErrNotApplied, err)
}
