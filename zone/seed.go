package zone

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// keyCurrentTerm is where hashicorp/raft keeps its current term in the
// stable store (raft.go's keyCurrentTerm, not exported).
var keyCurrentTerm = []byte("CurrentTerm")

// SeedReplica writes the Raft files of a replica of a new group into dir,
// which must hold none yet: a snapshot at index and term whose
// configuration is servers and whose body (size bytes) is read from body,
// and a current term of term. A replica opened on dir (OpenReplica) starts
// from that snapshot — the state machine restores it, or a self-restoring
// one catches up from it — and the servers elect a leader among
// themselves, in a term after term, so the group's log goes on after
// index. kind is the log store the folder gets (empty: LogStoreWAL). This
// is how a restore makes each member of a group: the same snapshot and
// configuration on every one (hashicorp/raft's RecoverCluster does the
// same from a replica's own log).
func SeedReplica(dir string, kind LogStoreKind, index, term uint64, servers []raft.Server, size int64, body io.Reader) error {
	if index == 0 || term == 0 || len(servers) == 0 {
		return fmt.Errorf("seed %s: want an index, a term and servers", dir)
	}
	if _, err := ParseLogStoreKind(string(kind)); err != nil {
		return fmt.Errorf("seed %s: %w", dir, err)
	}
	if _, found, err := StoreIn(dir); err != nil {
		return fmt.Errorf("seed %s: %w", dir, err)
	} else if found {
		return fmt.Errorf("seed %s: %w", dir, ErrHasState)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seed %s: %w", dir, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		return fmt.Errorf("seed %s: snapshots: %w", dir, err)
	}
	// The transport only encodes the servers' addresses for the
	// snapshot's legacy peers field, as the network transport does.
	_, trans := raft.NewInmemTransport("")
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, term, raft.Configuration{Servers: servers}, index, trans)
	if err != nil {
		return fmt.Errorf("seed %s: create snapshot: %w", dir, err)
	}
	n, err := io.Copy(sink, body)
	if err == nil && n != size {
		err = fmt.Errorf("body is %d bytes, want %d", n, size)
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("seed %s: write snapshot: %w", dir, err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("seed %s: close snapshot: %w", dir, err)
	}
	store, _, err := openRaftStore(dir, kind, hclog.NewNullLogger())
	if err != nil {
		return fmt.Errorf("seed %s: raft log: %w", dir, err)
	}
	// Without the term, the first election would be in term 1 and the
	// new entries' terms would sort below the snapshot's.
	err = store.SetUint64(keyCurrentTerm, term)
	return errors.Join(err, store.Close())
}
