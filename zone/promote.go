package zone

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// Promote makes the files of a stopped replica in srcDir the first member
// of a new Raft group in cfg.Dir, with servers as its configuration; the
// caller then opens it with OpenReplica (a single voter elects itself) and
// adds more members the usual way.
//
// This is how a zone's async followers become its failover store: Raft
// never elects a non-voter, so the replica's log and state are copied and
// recovered under raft.RecoverCluster into a group of a new name, whose
// identity can never be confused with the old group's. Recovery commits
// every entry in the copied log, including any the old group had not yet
// committed (an async follower receives entries before it learns they are
// committed), so the new group's idempotency check covers every key the
// replica had received. Such a write belongs to an account the zone's guard
// had marked in the backup zone (its mark is committed before the write is
// proposed), so it is on the blacklist, and reconciliation keeps the zone's
// state for it and adds only keys the zone lacks: a payment the zone never
// committed was acknowledged to nobody but a retry here, which then stands.
// The source files are left untouched.
//
// newFSM opens a state machine over a state file path; Promote closes it
// before returning, as RecoverCluster leaves it unusable. seal, if not nil,
// runs on that state machine once the copied log is applied and right
// before RecoverCluster snapshots it: what seal writes is in the snapshot,
// and so in the state of every member of the new group, the seed's and
// those that join from that snapshot (the recovery compacts the log away).
// Whatever decides what a member accepts must get there this way or
// through the new group's log, never into the seed's files alone.
func Promote(cfg ReplicaConfig, srcDir string, servers []raft.Server, newFSM func(path string) (StateMachine, io.Closer, error), seal func() error) error {
	if _, found, err := StoreIn(cfg.Dir); err != nil {
		return fmt.Errorf("promote into %s: %w", cfg.Dir, err)
	} else if found {
		return fmt.Errorf("promote into %s: a group is already there", cfg.Dir)
	}
	if err := copyTree(srcDir, cfg.Dir); err != nil {
		return fmt.Errorf("promote: copy %s: %w", srcDir, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hlog := raftLogger(log.With("group", cfg.Group))
	// The copy holds the replica's log: its kind, whatever cfg.LogStore.
	store, _, err := openRaftStore(cfg.Dir, cfg.LogStore, hlog)
	if err != nil {
		return fmt.Errorf("promote: open log: %w", err)
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		return fmt.Errorf("promote: open snapshots: %w", err)
	}
	sm, closer, err := newFSM(filepath.Join(cfg.Dir, "state.db"))
	if err != nil {
		return err
	}
	defer closer.Close()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.NodeID))
	var rsm raft.FSM = sm
	if seal != nil {
		rsm = sealing{StateMachine: sm, seal: seal}
	}
	if err := raft.RecoverCluster(rc, rsm, store, store, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
		return fmt.Errorf("promote: recover %s: %w", cfg.Group, err)
	}
	return nil
}

// sealing is a state machine whose snapshot is taken only after seal has
// run on it.
type sealing struct {
	StateMachine
	seal func() error
}

func (s sealing) Snapshot() (raft.FSMSnapshot, error) {
	if err := s.seal(); err != nil {
		return nil, fmt.Errorf("promote: seal the recovered state: %w", err)
	}
	return s.StateMachine.Snapshot()
}

// copyTree copies the regular files under src into dst.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
