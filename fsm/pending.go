package fsm

import (
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Committing the state file once per apply batch would put a second
// fdatasync, after the log's own, on every write's path. Instead the state
// machine keeps one bbolt write transaction open across apply batches and
// commits it when it holds CommitPolicy.Entries commands, at least every
// CommitPolicy.Interval, and before anything reads the committed state: a
// read, a snapshot, MarkPromoted, Close.
//
// Nothing is lost by the wait. Raft hands the state machine only entries
// that are in this replica's log, fsynced; the applied index is stored in
// the same transaction as the entries' effects; so the state file lags the
// log and never leads it, and after a crash (kill -9, power loss) the
// replica replays its log from the committed applied index to the same
// state (ApplyBatch skips what the file already holds). Raft's log is
// compacted only up to a snapshot, and Snapshot commits first, so the
// entries a replay needs are always in the log.
//
// Commits happen on Raft's apply goroutine (when the open transaction is
// full) or on the committer goroutine (on its interval, and for readers
// who ask for one); a commit that fails panics there and stops the node:
// the state file cannot be written, and the log replays on restart.

// CommitPolicy says when the state machine commits what it has applied.
type CommitPolicy struct {
	// Entries: commit once the open transaction holds this many commands
	// (and configuration entries). 1 commits after every apply batch.
	Entries int
	// Interval: commit what is applied at least this often. Zero: only
	// when Entries is reached, or something reads the committed state.
	Interval time.Duration
}

// DefaultCommitPolicy commits every 10,000 commands or 100 ms, as etcd's
// backend does.
var DefaultCommitPolicy = CommitPolicy{Entries: 10_000, Interval: 100 * time.Millisecond}

// CommitEveryBatch commits after every apply batch: two fsyncs per write
// path (the log's and the state file's). For comparison and tests.
var CommitEveryBatch = CommitPolicy{Entries: 1}

// pending is the FSM's open write transaction and its committer.
type pending struct {
	f      *FSM
	policy CommitPolicy

	// mu guards tx, held and dirty. Lock order: FSM.mu, then mu; the
	// committer takes only mu.
	mu      sync.Mutex
	tx      *bolt.Tx
	held    int    // commands applied in tx
	dirty   bool   // tx has writes
	applied uint64 // the applied index tx stores

	reqs chan chan struct{} // readers asking for a commit
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func (p *pending) start(f *FSM, policy CommitPolicy) {
	if policy.Entries < 1 {
		policy.Entries = 1
	}
	p.f, p.policy = f, policy
	p.reqs = make(chan chan struct{})
	p.quit = make(chan struct{})
	p.done = make(chan struct{})
	go p.run()
}

// run is the committer goroutine.
func (p *pending) run() {
	defer close(p.done)
	var tick <-chan time.Time
	if p.policy.Interval > 0 {
		t := time.NewTicker(p.policy.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-p.quit:
			return
		case reply := <-p.reqs:
			p.mustCommit()
			close(reply)
		case <-tick:
			p.mustCommit()
		}
	}
}

func (p *pending) mustCommit() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.commitLocked(); err != nil {
		// The entries are applied in memory and in the log, not in the
		// file: carrying on would serve and snapshot a state the file
		// does not hold. Stop; the restart replays the log.
		panic(fmt.Sprintf("fsm: commit state file %s: %v", p.f.path, err))
	}
}

// stop ends the committer. Close then commits what is left itself.
func (p *pending) stop() {
	if p.quit == nil {
		return
	}
	p.once.Do(func() { close(p.quit) })
	<-p.done
}

// flush commits what is applied, on the committer goroutine, and returns
// when it is in the state file. The caller holds FSM.mu shared.
func (p *pending) flush() error {
	if p.reqs == nil {
		return nil
	}
	p.mu.Lock()
	idle := p.tx == nil
	p.mu.Unlock()
	if idle {
		return nil
	}
	reply := make(chan struct{})
	select {
	case p.reqs <- reply:
	case <-p.quit:
		return ErrClosed
	}
	<-reply
	return nil
}

// viewLatest runs fn on every applied entry without waiting for a commit:
// in the open write transaction if there is one (holding it from the
// apply goroutine for fn's duration), else in a read transaction. Only for
// short reads of records that are never stored empty (accounts, payments,
// repayments, bills, notifications, shard records), of key presence
// through has and of keys alone (DueRange, in bounded holds): inside
// the transaction that wrote it bbolt's Get answers nil for an empty value,
// where a committed read answers an empty slice.
func (f *FSM) viewLatest(fn func(tx *bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	p := &f.pend
	p.mu.Lock()
	if p.tx != nil {
		defer p.mu.Unlock()
		return fn(p.tx)
	}
	p.mu.Unlock()
	// Nothing open: every applied entry is committed (a transaction opened
	// after this point holds only later entries).
	return f.db.View(fn)
}

// frontScan is how many index keys a read of the applied state may pass
// over while apply waits for it (viewLatest holds the pending lock).
const frontScan = 4096

// viewFront runs fn on the applied state (viewLatest) with a budget of
// frontScan keys to pass over; fn reports false when it ran out of budget,
// and it runs again, from the start and without a budget (-1, which never
// runs out counting down), on the committed state (view: a state-file
// commit, then a read transaction that apply does not wait for). The
// loops that read the front of an index every round use it: in the usual
// case their read is short and forces no commit; a front clogged with
// entries they skip costs what it did before, not a stalled apply.
func (f *FSM) viewFront(fn func(tx *bolt.Tx, budget int) (complete bool, err error)) error {
	complete := false
	err := f.viewLatest(func(tx *bolt.Tx) error {
		var err error
		complete, err = fn(tx, frontScan)
		return err
	})
	if err != nil || complete {
		return err
	}
	f.frontFallbacks.Add(1)
	return f.view(func(tx *bolt.Tx) error {
		_, err := fn(tx, -1)
		return err
	})
}

// txLocked returns the open write transaction, beginning one if none is.
// The caller holds FSM.mu shared (so FSM.db is open) and mu.
func (p *pending) txLocked() (*bolt.Tx, error) {
	if p.tx != nil {
		return p.tx, nil
	}
	tx, err := p.f.db.Begin(true)
	if err != nil {
		return nil, err
	}
	packInOrder(tx)
	p.tx = tx
	return tx, nil
}

// packedFill is how full bbolt fills a page before it splits one, in the
// buckets whose keys mostly arrive in order: accounts (user ids are given
// out in order) and the indexes keyed by log index. bbolt's default (half)
// suits keys that arrive at random; for keys in order it leaves every page
// half empty, and the state file twice the size: twice the pages to cache,
// to search and to write. Only the file's layout depends on it, not its
// contents.
const packedFill = 0.9

// packInOrder sets packedFill on the in-order buckets of tx (bbolt reads a
// bucket's FillPercent from the handle the transaction caches, when it
// writes the pages at commit).
func packInOrder(tx *bolt.Tx) {
	for _, name := range [][]byte{bucketAccounts, bucketUnposted, bucketUndelivered} {
		if b := tx.Bucket(name); b != nil {
			b.FillPercent = packedFill
		}
	}
}

// commitLocked commits the open transaction, if it has writes, and times
// the commit for metrics (nothing in the state depends on the clock).
func (p *pending) commitLocked() error {
	tx := p.tx
	if tx == nil {
		return nil
	}
	p.tx, p.held = nil, 0
	if !p.dirty {
		return tx.Rollback()
	}
	p.dirty = false
	// Read while tx is the file's one writer: nothing remaps it meanwhile.
	pageSize := int64(tx.DB().Info().PageSize)
	start := time.Now()
	if err := tx.Commit(); err != nil {
		return err
	}
	p.f.durable.Store(p.applied)
	if p.f.onCommit != nil {
		st := tx.Stats()
		p.f.onCommit(CommitStats{Took: time.Since(start), Spill: st.GetSpillTime(), Write: st.GetWriteTime(),
			Pages: st.GetPageAlloc() / pageSize})
	}
	return nil
}

// rollbackLocked drops the open transaction: its entries are in the log.
func (p *pending) rollbackLocked() {
	if p.tx != nil {
		_ = p.tx.Rollback()
	}
	p.tx, p.held, p.dirty = nil, 0, false
}
