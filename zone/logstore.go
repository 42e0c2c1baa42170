package zone

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	walmetrics "github.com/hashicorp/raft-wal/metrics"
)

// LogStoreKind names the files that hold a replica's Raft log and stable
// store (current term, vote) in its folder.
type LogStoreKind string

const (
	// LogStoreWAL is hashicorp/raft-wal in the folder's wal/ subfolder:
	// entries are appended to a segment file, one fsync per appended
	// batch; the term and vote are in wal/wal-meta.db (bbolt). The
	// default for a new folder.
	LogStoreWAL LogStoreKind = "wal"
	// LogStoreBolt is raft-boltdb in the folder's raft.db: one bbolt
	// commit (two fsyncs) per appended batch. Every folder made before
	// raft-wal keeps it.
	LogStoreBolt LogStoreKind = "bolt"
)

// ParseLogStoreKind reads a --raft-log-store value; empty is the default,
// wal.
func ParseLogStoreKind(s string) (LogStoreKind, error) {
	switch LogStoreKind(s) {
	case "", LogStoreWAL:
		return LogStoreWAL, nil
	case LogStoreBolt:
		return LogStoreBolt, nil
	}
	return "", fmt.Errorf("raft log store %q: want wal or bolt", s)
}

const (
	boltFile = "raft.db"
	walDir   = "wal"
	// walSegmentSize is the size of one raft-wal segment file, allocated
	// in full when the segment starts: every group holds at least one, so
	// raft-wal's default (64 MiB) would put 2.3 GiB on disk for an idle
	// `rzone dev`. A segment of 16 MiB holds minutes of payments at full
	// load; the log is cut after each snapshot anyway.
	walSegmentSize = 16 << 20
)

// StoreIn reports the kind of Raft log store the replica folder dir holds,
// and false when it holds none (a new folder). A folder with both is an
// error: nothing makes one.
func StoreIn(dir string) (LogStoreKind, bool, error) {
	bolt, err := exists(filepath.Join(dir, boltFile))
	if err != nil {
		return "", false, err
	}
	w, err := exists(filepath.Join(dir, walDir))
	if err != nil {
		return "", false, err
	}
	switch {
	case bolt && w:
		return "", false, fmt.Errorf("%s holds both %s and %s/: which is the Raft log is unknown", dir, boltFile, walDir)
	case bolt:
		return LogStoreBolt, true, nil
	case w:
		return LogStoreWAL, true, nil
	}
	return "", false, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// raftStore is a replica's Raft log and stable store.
type raftStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// openRaftStore opens the Raft log and stable store in the replica folder
// dir: the kind the folder holds, else (a new folder) want. It returns the
// kind it opened. As with bbolt, a second open of a folder that is open
// (in this process or another) waits until the first is closed.
func openRaftStore(dir string, want LogStoreKind, log hclog.Logger) (raftStore, LogStoreKind, error) {
	kind, found, err := StoreIn(dir)
	if err != nil {
		return nil, "", err
	}
	if !found {
		if kind, err = ParseLogStoreKind(string(want)); err != nil {
			return nil, "", err
		}
	}
	switch kind {
	case LogStoreBolt:
		s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, boltFile)})
		if err != nil {
			return nil, "", err
		}
		return s, kind, nil
	default:
		s, err := openWAL(filepath.Join(dir, walDir), log)
		if err != nil {
			return nil, "", err
		}
		return s, kind, nil
	}
}

// walStore is a raft-wal log whose meta database it closes too: raft-wal
// v0.4.0's Close left its meta database (and the file lock on it) open, and
// a replica reopened in the same process waited on that lock for ever.
// v0.4.2 (the version in go.mod: v0.4.0 also sealed a segment cut at its
// tail without its index, TestLogTailTruncatedThenReopened) closes it
// itself, and a second close is a no-op; the close here keeps the reopen
// safe whatever the version.
type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

func openWAL(dir string, log hclog.Logger) (*walStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	meta := &metadb.BoltMetaDB{}
	// Its counters go to go-metrics' global sink as raft_wal_*, as
	// raft-boltdb's go as raft_boltdb_*.
	w, err := wal.Open(dir, wal.WithMetaStore(meta), wal.WithLogger(log.Named("wal")), wal.WithSegmentSize(walSegmentSize),
		wal.WithMetricsCollector(walmetrics.NewGoMetricsCollector([]string{"raft", "wal"}, nil, nil)))
	if err != nil {
		return nil, errors.Join(err, meta.Close())
	}
	return &walStore{WAL: w, meta: meta}, nil
}

// Close closes the log, then its meta database.
func (s *walStore) Close() error {
	return errors.Join(s.WAL.Close(), s.meta.Close())
}
