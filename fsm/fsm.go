package fsm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

var _ raft.BatchingFSM = (*FSM)(nil)

// FSM is a zone's state machine over one bbolt file. Raft calls ApplyBatch,
// Apply, Snapshot and Restore from one goroutine; the read methods may be
// called concurrently with those and with each other.
type FSM struct {
	path string
	log  *slog.Logger

	// mu guards db: reads hold it shared, Restore and Close exclusively.
	mu sync.RWMutex
	db *bolt.DB

	applied appliedIndex
	// durable is the applied index the state file holds: it lags applied
	// by what the open transaction holds (pending.go).
	durable atomic.Uint64

	// snaps are the snapshots whose read transactions are open; Close ends
	// them (raft.RecoverCluster persists a snapshot and never releases it).
	snapMu sync.Mutex
	snaps  map[*snapshot]struct{}

	// batches and entries count apply work for metrics.
	batches atomic.Uint64
	entries atomic.Uint64
	// frontFallbacks counts front reads done again on the committed
	// state (viewFront).
	frontFallbacks atomic.Uint64
	// onCommit, if set, is told of each commit of the state file.
	onCommit func(CommitStats)

	// pend is the write transaction that holds applied entries not yet
	// committed to the state file (pending.go).
	pend pending
}

// CommitStats is what one commit of the state file cost.
type CommitStats struct {
	// Took is the whole commit: Spill, Write and the rest (rebalancing
	// nodes after deletes, growing the file).
	Took time.Duration
	// Spill is the time to lay the changed B+tree nodes out as pages.
	Spill time.Duration
	// Write is the time to write the pages and the meta page, each
	// write followed by an fdatasync.
	Write time.Duration
	// Pages is how many pages the commit wrote besides the meta page
	// (its changed nodes; the freelist is not written, NoFreelistSync),
	// of the file's page size.
	Pages int64
}

// ObserveCommits makes fn be told what each commit of the state file
// cost. Call it before the FSM is handed to Raft; fn is then called from
// Raft's apply goroutine or the FSM's committer.
func (f *FSM) ObserveCommits(fn func(CommitStats)) { f.onCommit = fn }

// boltOptions: a large initial mmap so that a snapshot's long read
// transaction rarely blocks a writer that needs to grow the map.
func boltOptions() *bolt.Options {
	return &bolt.Options{
		Timeout:         5 * time.Second,
		InitialMmapSize: 1 << 30,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
	}
}

// Open opens (or creates) the state file at path, with the default commit
// policy (DefaultCommitPolicy). log may be nil.
func Open(path string, log *slog.Logger) (*FSM, error) {
	return OpenWith(path, log, DefaultCommitPolicy)
}

// OpenWith opens (or creates) the state file at path, committing applied
// entries to it as policy says. log may be nil.
func OpenWith(path string, log *slog.Logger, policy CommitPolicy) (*FSM, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FSM{path: path, log: log}
	if err := f.open(); err != nil {
		return nil, err
	}
	f.pend.start(f, policy)
	return f, nil
}

func (f *FSM) open() error {
	db, err := bolt.Open(f.path, 0o600, boltOptions())
	if err != nil {
		return fmt.Errorf("open state %q: %w", f.path, err)
	}
	var applied uint64
	err = db.Update(func(tx *bolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		applied = readApplied(tx)
		return nil
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("init state %q: %w", f.path, err)
	}
	f.db = db
	f.applied.set(applied)
	f.durable.Store(applied)
	return nil
}

// Close commits what is applied and closes the state file. Reads after
// Close return ErrClosed.
func (f *FSM) Close() error {
	f.pend.stop()
	f.snapMu.Lock()
	open := make([]*snapshot, 0, len(f.snaps))
	for s := range f.snaps {
		open = append(open, s)
	}
	f.snapMu.Unlock()
	for _, s := range open {
		s.Release()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return nil
	}
	f.pend.mu.Lock()
	cerr := f.pend.commitLocked()
	f.pend.mu.Unlock()
	err := f.db.Close()
	f.db = nil
	return errors.Join(cerr, err)
}

// AppliedIndex is the last log index this state machine has applied: its
// reads see it. The state file may hold less (DurableIndex) until the next
// commit; a crash loses that part from the file, not from the log, and the
// replay after the restart applies it again.
func (f *FSM) AppliedIndex() uint64 { return f.applied.load() }

// DurableIndex is the last log index whose effects are in the state file:
// what this replica's applied index is after a crash and restart, before
// the log replays. Report it where a number must not go back when the
// replica restarts (how far a replica has applied, for guard clears and for
// choosing a failover seed).
func (f *FSM) DurableIndex() uint64 { return f.durable.Load() }

// FrontFallbacks returns how many reads of an index's front (the poster's,
// the outbox's, a task's due users) passed over more than frontScan keys
// of the applied state since Open, and were done again on the committed
// state, each after a state-file commit.
func (f *FSM) FrontFallbacks() uint64 { return f.frontFallbacks.Load() }

// ApplyStats returns how many batches and entries have been applied since
// Open.
func (f *FSM) ApplyStats() (batches, entries uint64) {
	return f.batches.Load(), f.entries.Load()
}

// WaitApplied blocks until the applied index reaches index or done is closed,
// and reports whether it was reached.
func (f *FSM) WaitApplied(done <-chan struct{}, index uint64) bool {
	return f.applied.wait(done, index)
}

// Apply applies one entry. Raft uses ApplyBatch; Apply is here for the
// raft.FSM interface and for tests.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in the open bbolt write transaction
// (pending.go), skipping those at or below the applied index stored in it
// (already applied before a restart). The result of a command entry is a
// []Result, one per command.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	results := make([]any, len(logs))
	if len(logs) == 0 {
		return results
	}
	last, err := f.applyBatch(logs, results)
	if err != nil {
		// The other replicas applied these entries; this one cannot (a
		// disk or bbolt failure, not an entry's content: apply refuses bad
		// content with a Result).
		panic(fmt.Sprintf("fsm: apply batch ending at %d: %v", logs[len(logs)-1].Index, err))
	}
	f.batches.Add(1)
	f.entries.Add(uint64(len(logs)))
	f.applied.set(last)
	return results
}

// applyBatch applies logs in the open write transaction and answers the
// applied index it stored there. The transaction is committed when the
// commit policy says (pending.go); until then the entries are durable in
// the log, which a restart replays from the committed applied index.
func (f *FSM) applyBatch(logs []*raft.Log, results []any) (uint64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return 0, ErrClosed
	}
	p := &f.pend
	p.mu.Lock()
	defer p.mu.Unlock()
	tx, err := p.txLocked()
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() {
		if !ok {
			// A panic mid-batch (a disk or bbolt failure): what the
			// transaction holds is part of a batch; drop all of it, the log
			// has it.
			p.rollbackLocked()
		}
	}()
	applied := readApplied(tx)
	last := applied
	cmds := 0
	for i, l := range logs {
		if l.Index <= applied {
			continue
		}
		if l.Type == raft.LogCommand {
			rs := f.applyEntry(tx, l)
			results[i] = rs
			cmds += len(rs)
		} else {
			cmds++
		}
		last = l.Index
	}
	if last == applied {
		ok = true
		return last, nil
	}
	if err := tx.Bucket(bucketMeta).Put(keyApplied, be64(last)); err != nil {
		return 0, err
	}
	ok = true
	p.dirty = true
	p.applied = last
	p.held += cmds
	if p.held >= p.policy.Entries {
		if err := p.commitLocked(); err != nil {
			return 0, err
		}
	}
	return last, nil
}

func (f *FSM) applyEntry(tx *bolt.Tx, l *raft.Log) []Result {
	cmds, err := Decode(l.Data)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			// Every replica decodes the same bytes the same way, so a
			// malformed entry is refused identically everywhere.
			f.log.Error("malformed log entry refused", "index", l.Index, "err", err)
			return []Result{{Code: Invalid, Msg: err.Error()}}
		}
		// A newer version wrote this entry: applying around it would diverge.
		// Only rzone writes zone entries (handlers build typed commands,
		// and Encode writes known types only), so this is an upgrade
		// order mistake, never a request's content.
		panic(fmt.Sprintf("fsm: entry %d: %v (upgrade this node)", l.Index, err))
	}
	a := applier{tx: tx, index: l.Index}
	out := make([]Result, len(cmds))
	for i := range cmds {
		out[i] = a.apply(&cmds[i])
	}
	return out
}

// applier applies the commands of one log entry inside one transaction.
type applier struct {
	tx    *bolt.Tx
	index uint64
}

// apply applies one command. A command that fails Validate is answered
// Invalid and changes nothing: its content may have come from a request,
// and a panic here would stop every replica on every restart.
func (a *applier) apply(c *Command) Result {
	if err := c.Validate(); err != nil {
		return Result{Code: Invalid, Msg: err.Error()}
	}
	a.keepBase(c)
	switch c.Type {
	case CmdPutAccount:
		return a.putAccount(c)
	case CmdPay:
		return a.pay(c)
	case CmdPost:
		return a.post(c)
	case CmdRepay:
		return a.repay(c)
	case CmdRegisterNode:
		put(a.tx.Bucket(bucketNodes), []byte(c.NodeID), nodeRec{RaftAddr: c.RaftAddr, HTTPAddr: c.HTTPAddr})
		return Result{Code: OK}
	case CmdSetShards:
		return a.setShards(c)
	case CmdIngest:
		return a.ingest(c)
	case CmdMark:
		return a.mark(c)
	case CmdClearMarks:
		return a.clearMarks(c)
	case CmdNotify:
		return a.notify(c)
	case CmdFailover:
		return a.failover(c)
	case CmdMerge:
		return a.merge(c)
	case CmdGuardClear:
		return a.guardClear(c)
	case CmdNotifyDelivered:
		return a.notifyDelivered(c)
	case CmdDropShard:
		return a.dropShard(c)
	}
	// Validate refuses every type not handled above.
	panic(fmt.Sprintf("fsm: apply of unknown command type %d passed Validate (a bug in rzone)", c.Type))
}

// view runs fn in a read transaction of the committed state, after
// committing what is applied (so fn sees every applied entry).
func (f *FSM) view(fn func(tx *bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	if err := f.pend.flush(); err != nil {
		return err
	}
	return f.db.View(fn)
}

// Snapshot captures the state in a bbolt read transaction, after
// committing what is applied; Persist streams it while apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	if err := f.pend.flush(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("snapshot: begin read: %w", err)
	}
	s := &snapshot{tx: tx, f: f}
	f.snapMu.Lock()
	if f.snaps == nil {
		f.snaps = map[*snapshot]struct{}{}
	}
	f.snaps[s] = struct{}{}
	f.snapMu.Unlock()
	return s, nil
}

// Restore replaces all state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.path + ".restore"
	if err := writeFileSync(tmp, rc); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The snapshot replaces every entry the open transaction holds.
	f.pend.mu.Lock()
	f.pend.rollbackLocked()
	f.pend.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("restore: close state: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("restore: replace state: %w", err)
	}
	if err := f.open(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.log.Info("state restored from snapshot", "applied_index", f.applied.load())
	return nil
}

func writeFileSync(path string, r io.Reader) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

type snapshot struct {
	tx   *bolt.Tx
	f    *FSM
	once sync.Once
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.tx.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("snapshot: write: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {
	s.once.Do(func() {
		_ = s.tx.Rollback()
		s.f.snapMu.Lock()
		delete(s.f.snaps, s)
		s.f.snapMu.Unlock()
	})
}
