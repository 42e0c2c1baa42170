// Package checker decides whether a history of a fault test is valid against
// rzone's guarantees (docs/DESIGN.md): the set checker finds lost and
// doubled payments, the bank checker finds money created, lost or out of
// bounds, the linearizability checker runs Porcupine per account, and the
// sched checker finds batch-run effects missing, doubled or misdirected. Each
// reports the anomalies it saw by name, with the first counter-examples.
package checker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Anomaly kinds, as named in reports.
const (
	LostWrite        = "lost-write"         // an acknowledged write is missing
	DoubleCharge     = "double-charge"      // one key took effect more than once
	StatusFlip       = "status-flip"        // a key's acknowledged result changed
	PhantomWrite     = "phantom-write"      // a write nobody asked for is present
	ReplicaDivergent = "replica-divergence" // replicas at one index disagree
	StaleRead        = "stale-read"         // a read returned an outdated state
	Nonlinearizable  = "nonlinearizable"    // writes on an account admit no order
	MoneyCreated     = "money-created"      // more owed or accepted than possible
	MoneyLost        = "money-lost"         // less owed or accepted than certain
	NegativeBalance  = "negative-balance"   // an amount below zero
	OverLimit        = "over-limit"         // owed above the credit limit
	CheckTimeout     = "check-timeout"      // the checker gave up
	NoFinalRead      = "no-final-read"      // nothing to check against
	WrongAmount      = "wrong-amount"       // an amount other than the one sent or owed
)

// Verdict is a checker's conclusion.
type Verdict string

// The verdicts.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown" // the checker could not decide
)

// maxExamples is how many anomalies of each kind a Result keeps.
const maxExamples = 5

// Anomaly is one counter-example.
type Anomaly struct {
	Kind   string `json:"kind"`
	User   uint64 `json:"user,omitempty"`
	Key    string `json:"key,omitempty"`
	Node   string `json:"node,omitempty"`
	Detail string `json:"detail"`
	// Ops are the indexes of the history entries that show it.
	Ops []int `json:"ops,omitempty"`
}

func (a Anomaly) String() string {
	var b strings.Builder
	b.WriteString(a.Kind)
	if a.User != 0 {
		fmt.Fprintf(&b, " user=%d", a.User)
	}
	if a.Key != "" {
		fmt.Fprintf(&b, " key=%s", a.Key)
	}
	if a.Node != "" {
		fmt.Fprintf(&b, " node=%s", a.Node)
	}
	fmt.Fprintf(&b, ": %s", a.Detail)
	if len(a.Ops) > 0 {
		fmt.Fprintf(&b, " (ops %v)", a.Ops)
	}
	return b.String()
}

// Result is one checker's verdict over a history.
type Result struct {
	Checker string  `json:"checker"`
	Verdict Verdict `json:"verdict"`
	// Anomalies counts anomalies by kind.
	Anomalies map[string]int `json:"anomalies,omitempty"`
	// Examples holds the first few anomalies of each kind.
	Examples []Anomaly `json:"examples,omitempty"`
	// Stats counts what was checked.
	Stats map[string]int `json:"stats,omitempty"`
	// Unchecked says what could not be checked: why the verdict is
	// unknown.
	Unchecked []string `json:"unchecked,omitempty"`
	// Notes explain a weakened check or what was let pass, and why.
	Notes []string `json:"notes,omitempty"`
	// Files are artifacts the checker wrote (Porcupine visualizations).
	Files []string `json:"files,omitempty"`
}

func newResult(name string) *Result {
	return &Result{Checker: name, Verdict: Valid, Anomalies: map[string]int{}, Stats: map[string]int{}}
}

// add records an anomaly and makes the verdict invalid.
func (r *Result) add(a Anomaly) {
	r.Anomalies[a.Kind]++
	if r.Anomalies[a.Kind] <= maxExamples {
		r.Examples = append(r.Examples, a)
	}
	r.Verdict = Invalid
}

// unknown makes a valid verdict unknown, and says why.
func (r *Result) unknown(format string, args ...any) {
	r.Unchecked = append(r.Unchecked, fmt.Sprintf(format, args...))
	if r.Verdict == Valid {
		r.Verdict = Unknown
	}
}

// Has reports whether the result counts an anomaly of kind.
func (r *Result) Has(kind string) bool { return r.Anomalies[kind] > 0 }

// AnomalyKinds lists the kinds seen, sorted.
func (r *Result) AnomalyKinds() []string {
	var out []string
	for k, n := range r.Anomalies {
		if n > 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Checker checks a whole history.
type Checker interface {
	Name() string
	Check(ops []history.Op) *Result
}

// Combine is the verdict of several results: invalid when one is, else
// unknown when one is (or when there is none: nothing was checked), else
// valid.
func Combine(rs []*Result) Verdict {
	v := Valid
	if len(rs) == 0 {
		v = Unknown
	}
	for _, r := range rs {
		switch r.Verdict {
		case Invalid:
			return Invalid
		case Valid:
		default:
			v = Unknown
		}
	}
	return v
}

// CheckAll runs every checker and returns their results and verdict
// (Combine).
func CheckAll(ops []history.Op, cs ...Checker) ([]*Result, Verdict) {
	var out []*Result
	for _, c := range cs {
		out = append(out, c.Check(ops))
	}
	return out, Combine(out)
}

// paid reports whether a payment status means the amount was charged.
func paid(status string) bool { return status == "accepted" || status == "posted" }

// keyOf identifies a write: keys are scoped to the user.
type keyOf struct {
	user uint64
	key  string
}

// write is everything the history says about one key.
type write struct {
	f        string
	user     uint64
	key      string
	amount   int64
	workload string
	// zone is the zone of the user's shard, "" in a single zone.
	zone     string
	attempts []history.Pair
	// acked is the first ok completion, nil if none.
	acked *history.Op
	// oks are every ok completion, in any era: every answer a client
	// received for the key.
	oks []history.Op
	// maybe is true if some attempt may have applied (ok or info).
	maybe bool
	call  int64 // first invoke time
}

// status is the acknowledged status of the key, "" when unacknowledged.
func (w *write) status() string {
	if w.acked == nil {
		return ""
	}
	return w.acked.Status
}

// answers splits the key's answers into those that said it was charged
// (accepted, posted) and those that said it was not (declined), by history
// index.
func (w *write) answers() (charged, refused []int) {
	for _, c := range w.oks {
		if paid(c.Status) {
			charged = append(charged, c.Index)
		} else {
			refused = append(refused, c.Index)
		}
	}
	return charged, refused
}

// collectWrites groups the attempts of every pay or repay key, in first-
// invoke order. Workload "" takes every workload.
func collectWrites(ops []history.Op, f, workload string) []*write {
	by := map[keyOf]*write{}
	var order []*write
	for _, p := range history.Pairs(ops) {
		in := p.Invoke
		if in.F != f || (workload != "" && in.Workload != workload) {
			continue
		}
		k := keyOf{in.User, in.Key}
		w := by[k]
		if w == nil {
			w = &write{f: f, user: in.User, key: in.Key, amount: in.Amount, workload: in.Workload, zone: in.Zone, call: in.Time}
			by[k] = w
			order = append(order, w)
		}
		w.attempts = append(w.attempts, p)
		switch p.Type() {
		case history.OK:
			w.maybe = true
			w.oks = append(w.oks, *p.Complete)
			if w.acked == nil {
				c := *p.Complete
				w.acked = &c
			}
		case history.Info:
			w.maybe = true
		}
	}
	return order
}

// finalReads returns the ok final reads of the workload ("" for all), by
// user. A final read that failed (a replica that could not be read) makes
// r unknown: the state it holds was never compared.
func finalReads(r *Result, ops []history.Op, workload string) map[uint64][]history.Op {
	out := map[uint64][]history.Op{}
	unread := map[string][]uint64{}
	var nodes []string
	for _, op := range ops {
		if op.F != history.FFinalRead || (workload != "" && op.Workload != workload) {
			continue
		}
		if op.Type != history.OK {
			if unread[op.Node] == nil {
				nodes = append(nodes, op.Node)
			}
			unread[op.Node] = append(unread[op.Node], op.User)
			continue
		}
		out[op.User] = append(out[op.User], op)
	}
	for _, n := range nodes {
		r.Stats["unreadable-replicas"]++
		r.unknown("replica %s could not be read (users %v): its state was never compared", n, unread[n])
	}
	return out
}

func users[V any](m map[uint64]V) []uint64 {
	out := make([]uint64, 0, len(m))
	for u := range m {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
