// Package history records what the clients of a fault test did and saw, as
// Jepsen does: every operation is an invoke followed by one completion, ok
// (it happened), fail (it certainly did not) or info (it may have), with the
// process that ran it and monotonic times. A history is saved as JSON lines
// and read back by the checkers and the report.
package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// Type is the kind of a history entry.
type Type string

// The entry types.
const (
	Invoke Type = "invoke" // a process starts an operation
	OK     Type = "ok"     // it completed and took effect (or read what it read)
	Fail   Type = "fail"   // it certainly did not take effect
	Info   Type = "info"   // it may or may not have taken effect; nemesis events too
)

// Operation names (Op.F).
const (
	FPut       = "put-account"
	FPay       = "pay"
	FRepay     = "repay"
	FRead      = "read"       // GET account
	FFinalRead = "final-read" // after the run: account and every payment, per node
	FFault     = "fault-start"
	FHeal      = "fault-end"
	// FFaultStep is one step of a multi-step fault (the failover nemesis's
	// kill, failover, restart and recover): Step names it, StepStart is
	// when it began and the entry's Time when it ended.
	FFaultStep = "fault-step"
	// FRunStart starts a batch run (POST /v1/jobs/{job}/runs): Job and
	// Cycle on the invoke, RunID and Run on the ok completion.
	FRunStart = "run-start"
	// FRunRead reads a run's progress (GET /v1/runs/{id}) into Run.
	FRunRead = "run-read"
	// FSchedRead is the scheduler workload's final, linearizable read of a
	// user: Account, Bill (nil: no bill for Cycle), Notifications and Debit
	// (the auto-debit repayment of Cycle, nil when there is none).
	FSchedRead = "sched-read"
)

// NemesisProcess is the process of nemesis entries.
const NemesisProcess = -1

// Account is an account as a read saw it.
type Account struct {
	CreditLimit int64 `json:"credit_limit"`
	Used        int64 `json:"used"`
	Pending     int64 `json:"pending"`
	Accepted    int64 `json:"accepted"`
	Repaid      int64 `json:"repaid"`
}

// Payment is a payment as a final read saw it.
type Payment struct {
	Key      string `json:"key"`
	Amount   int64  `json:"amount"`
	Status   string `json:"status"`
	LogIndex uint64 `json:"log_index"`
}

// Op is one history entry. Request fields are repeated on the completion.
type Op struct {
	Index   int    `json:"index"`
	Type    Type   `json:"type"`
	Process int    `json:"process"`
	F       string `json:"f"`
	// Time is nanoseconds since the start of the run.
	Time     int64  `json:"time"`
	Workload string `json:"workload,omitempty"`
	Node     string `json:"node,omitempty"`

	User   uint64 `json:"user,omitempty"`
	Key    string `json:"key,omitempty"`
	Amount int64  `json:"amount,omitempty"`
	// Attempt numbers the tries of one key, from 1.
	Attempt int `json:"attempt,omitempty"`
	// Replay marks a deliberate resend of a key that was already acknowledged.
	Replay bool `json:"replay,omitempty"`
	Stale  bool `json:"stale,omitempty"`

	// Status is the payment or repayment status the server returned.
	Status string `json:"status,omitempty"`
	// Created is true when a write was answered 201 (new) rather than 200
	// (replay).
	Created bool `json:"created,omitempty"`
	// LogIndex is the Raft index that applied the payment or repayment.
	LogIndex uint64   `json:"log_index,omitempty"`
	Account  *Account `json:"account,omitempty"`
	// Payments is every payment of User, for final reads; nil when they
	// were not read. (Not omitted when empty: an empty list and no list
	// differ.)
	Payments []Payment `json:"payments"`
	// Applied is the node's applied index at a final read.
	Applied uint64 `json:"applied,omitempty"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`

	// Zone is, on a client entry of a multi-zone run (write, read, final
	// read), the zone that owned the user's shard when the run began; on a
	// nemesis entry, the zone a zone fault hit.
	Zone string `json:"zone,omitempty"`

	// Fault, FaultID and Targets describe nemesis entries.
	Fault   string   `json:"fault,omitempty"`
	FaultID int      `json:"fault_id,omitempty"`
	Targets []string `json:"targets,omitempty"`
	// HealStart, on a fault-end entry, is the history time at which the
	// nemesis began to undo the fault (the entry's Time is when it was
	// done).
	HealStart int64 `json:"heal_start,omitempty"`
	// Step and StepStart describe a fault-step entry.
	Step      string `json:"step,omitempty"`
	StepStart int64  `json:"step_start,omitempty"`
	// Job, Cycle and RunID name a batch run on run-start and run-read
	// entries; Cycle is the bills' cycle (YYYYMM) on sched-read entries.
	Job   string `json:"job,omitempty"`
	Cycle string `json:"cycle,omitempty"`
	RunID uint64 `json:"run_id,omitempty"`
	// Run is a run's state as a run-start or run-read saw it.
	Run *Run `json:"run,omitempty"`
	// Bill, Notifications and Debit are what a sched-read saw.
	Bill          *Bill          `json:"bill,omitempty"`
	Notifications []Notification `json:"notifications,omitempty"`
	Debit         *Repayment     `json:"debit,omitempty"`

	// Reconcile is, on the recover step of a failover, the zone's
	// reconciliation report as GET /v1/zones/{zone} showed it afterwards.
	Reconcile *Reconcile `json:"reconcile,omitempty"`
}

// Run is a batch run's state and progress (api.Run, abridged).
type Run struct {
	State      string `json:"state"`
	UsersDone  int64  `json:"users_done"`
	UsersTotal int64  `json:"users_total"`
	TasksDone  int64  `json:"tasks_done"`
	TasksTotal int64  `json:"tasks_total"`
	Generated  int    `json:"generated"`
	Ranges     int    `json:"ranges"`
	Expired    int64  `json:"expired,omitempty"`
	Fenced     int64  `json:"fenced,omitempty"`
	Failures   int64  `json:"failures,omitempty"`
}

// Bill is a user's bill of one cycle, in minor units.
type Bill struct {
	Principal   int64 `json:"principal"`
	Paid        int64 `json:"paid"`
	Outstanding int64 `json:"outstanding"`
	// Statement is the amount the cycle's statement said was due.
	Statement int64 `json:"statement,omitempty"`
}

// Notification is one message of a user's outbox.
type Notification struct {
	Job    string `json:"job"`
	Cycle  string `json:"cycle"`
	Amount int64  `json:"amount"`
	// Index is the log index that wrote it.
	Index uint64 `json:"index"`
}

// Repayment is a repayment as a read saw it.
type Repayment struct {
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
	Status string `json:"status"`
}

// Reconcile is a zone's state after a recover step, with the report of its
// reconciliation (api.ReconcileReport).
type Reconcile struct {
	// Phase is the zone's phase after the recover (normal when it
	// completed).
	Phase string `json:"phase"`
	// Ready is the zone's readiness: its leader serves writes.
	Ready bool `json:"ready"`
	// Store is the failover store that was merged back.
	Store string `json:"store,omitempty"`
	// Blacklist is how many accounts were isolated during the failover.
	Blacklist int `json:"blacklist"`
	// Payments is how many payments the failover store took.
	Payments int `json:"payments"`
	// Report is nil when the zone showed none.
	Report *ReconcileReport `json:"report,omitempty"`
}

// ReconcileReport is the zone's reconciliation report, as the API gives it.
type ReconcileReport = api.ReconcileReport

// Voided is a failover payment voided as a duplicate at reconciliation.
type Voided = api.VoidedPayment

// Completion returns a copy of the invoke op as a completion of type t.
func (o Op) Completion(t Type) Op {
	c := o
	c.Type = t
	c.Index, c.Time = 0, 0
	return c
}

// Recorder appends ops to a history, assigning indexes and times. It is safe
// for concurrent use. Its ops are also streamed, one JSON line each, to the
// writer given to NewRecorder.
type Recorder struct {
	start time.Time

	mu  sync.Mutex
	ops []Op
	w   *bufio.Writer
	err error
}

// NewRecorder starts a history whose time zero is now. w may be nil.
func NewRecorder(w io.Writer) *Recorder {
	r := &Recorder{start: time.Now()}
	if w != nil {
		r.w = bufio.NewWriterSize(w, 1<<16)
	}
	return r
}

// Start is the wall-clock time of time zero.
func (r *Recorder) Start() time.Time { return r.start }

// Now is the history time of this instant.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Add stamps op with the next index and the current time, records it and
// returns it.
func (r *Recorder) Add(op Op) Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = len(r.ops)
	op.Time = int64(time.Since(r.start))
	r.ops = append(r.ops, op)
	if r.w != nil && r.err == nil {
		var b []byte
		b, r.err = json.Marshal(op)
		if r.err == nil {
			b = append(b, '\n')
			_, r.err = r.w.Write(b)
		}
	}
	return op
}

// Ops returns a copy of the history so far.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Flush writes buffered lines and returns the first write error.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil && r.err == nil {
		r.err = r.w.Flush()
	}
	return r.err
}

// Write saves ops as JSON lines.
func Write(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			return fmt.Errorf("write history: %w", err)
		}
	}
	return bw.Flush()
}

// Read loads a JSON-lines history.
func Read(r io.Reader) ([]Op, error) {
	dec := json.NewDecoder(r)
	var ops []Op
	for {
		var op Op
		err := dec.Decode(&op)
		if err == io.EOF {
			return ops, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read history entry %d: %w", len(ops), err)
		}
		ops = append(ops, op)
	}
}

// ReadFile loads a JSON-lines history from path.
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	return Read(f)
}

// Pair is an invoked client operation and its completion. Complete is nil
// when the process never completed it (treat as info).
type Pair struct {
	Invoke   Op
	Complete *Op
}

// Type is the completion's type, Info when there is none.
func (p Pair) Type() Type {
	if p.Complete == nil {
		return Info
	}
	return p.Complete.Type
}

// Latency is the time from invoke to completion, zero when incomplete.
func (p Pair) Latency() time.Duration {
	if p.Complete == nil {
		return 0
	}
	return time.Duration(p.Complete.Time - p.Invoke.Time)
}

// Pairs matches every client invoke with the next completion of the same
// process, in invoke order. Nemesis entries are left out.
func Pairs(ops []Op) []Pair {
	open := map[int]int{} // process → index in out
	var out []Pair
	for _, op := range ops {
		if op.Process == NemesisProcess {
			continue
		}
		if op.Type == Invoke {
			open[op.Process] = len(out)
			out = append(out, Pair{Invoke: op})
			continue
		}
		if i, ok := open[op.Process]; ok {
			c := op
			out[i].Complete = &c
			delete(open, op.Process)
		}
	}
	return out
}

// Window is one fault as the nemesis recorded it.
type Window struct {
	ID      int      `json:"id"`
	Fault   string   `json:"fault"`
	Targets []string `json:"targets"`
	// Zone is the zone a zone fault hit, "" for other faults.
	Zone string `json:"zone,omitempty"`
	// Start and End are history times; End is the history's last time when
	// the fault was never healed.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// HealStart is when the nemesis began to undo the fault: End when it
	// did not say.
	HealStart int64 `json:"heal_start"`
	// Error says the fault could not be applied: the window is no fault.
	Error string `json:"error,omitempty"`
	// HealError says the nemesis could not undo the fault: it was applied
	// and may have lasted past End.
	HealError string `json:"heal_error,omitempty"`
}

// Windows pairs the nemesis's fault-start and fault-end entries, ordered by
// start.
func Windows(ops []Op) []Window {
	byID := map[int]*Window{}
	var last int64
	for _, op := range ops {
		if op.Time > last {
			last = op.Time
		}
		if op.Process != NemesisProcess {
			continue
		}
		switch op.F {
		case FFault:
			byID[op.FaultID] = &Window{ID: op.FaultID, Fault: op.Fault, Targets: op.Targets, Zone: op.Zone, Start: op.Time, End: -1, HealStart: -1, Error: op.Error}
		case FHeal:
			if w, ok := byID[op.FaultID]; ok {
				w.End = op.Time
				if op.HealStart > 0 {
					w.HealStart = op.HealStart
				}
				w.HealError = op.Error
			}
		}
	}
	out := make([]Window, 0, len(byID))
	for _, w := range byID {
		if w.End < 0 {
			w.End = last
		}
		if w.HealStart < 0 {
			w.HealStart = w.End
		}
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}
