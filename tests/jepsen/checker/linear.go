package checker

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Linearizable checks, with Porcupine, that the pays, repays and
// linearizable reads of each account admit one sequential order consistent
// with real time and with accountModel. A pay or repay retried with the same
// key is one operation, from its first invoke to its first ok; one that never
// got an answer is pending forever. Stale reads are not checked here.
type Linearizable struct {
	// Workload selects the history entries checked; "" checks all.
	Workload string
	// Timeout bounds the check of each account. Zero means 30s.
	Timeout time.Duration
	// OutDir, when set, receives linearizability-user-U.html, Porcupine's
	// visualization, for each account that is not linearizable.
	OutDir string
}

// Name implements Checker.
func (l Linearizable) Name() string { return "linearizable" }

// Check implements Checker.
func (l Linearizable) Check(ops []history.Op) *Result {
	r := newResult(l.Name())
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	perUser, limits := l.operations(ops)
	if len(perUser) == 0 {
		r.unknown("no operation on an account: nothing to check")
	}
	for _, u := range users(perUser) {
		limit, ok := limits[u]
		if !ok {
			r.unknown("user %d: no acknowledged put-account gives its limit", u)
			continue
		}
		l.checkUser(r, u, limit, perUser[u], timeout)
	}
	r.Stats["accounts"] = len(perUser)
	return r
}

// linOp is a porcupine operation with the history entries it stands for.
type linOp struct {
	op  porcupine.Operation
	ops []int
}

// operations builds each user's porcupine operations and finds each user's
// credit limit (the first acknowledged put-account).
func (l Linearizable) operations(ops []history.Op) (map[uint64][]linOp, map[uint64]int64) {
	limits := map[uint64]int64{}
	var end int64
	for _, op := range ops {
		if op.Time > end {
			end = op.Time
		}
		if op.F == history.FPut && op.Type == history.OK && (l.Workload == "" || op.Workload == l.Workload) {
			if _, ok := limits[op.User]; !ok {
				limits[op.User] = op.Amount
			}
		}
	}
	forever := end + int64(time.Hour)
	if forever < end {
		forever = math.MaxInt64
	}
	out := map[uint64][]linOp{}
	for _, f := range []string{history.FPay, history.FRepay} {
		for _, w := range collectWrites(ops, f, l.Workload) {
			in := linIn{F: f, Key: w.key, Amount: w.amount}
			var idx []int
			for _, p := range w.attempts {
				idx = append(idx, p.Invoke.Index)
				if p.Complete != nil {
					idx = append(idx, p.Complete.Index)
				}
			}
			o := porcupine.Operation{ClientId: w.attempts[0].Invoke.Process, Input: in, Call: w.call}
			switch {
			case w.acked != nil:
				o.Output, o.Return = linOut{Status: w.acked.Status}, w.acked.Time
			case w.maybe:
				o.Output, o.Return = linOut{Unknown: true}, forever
			default:
				continue // certainly never applied
			}
			out[w.user] = append(out[w.user], linOp{op: o, ops: idx})
		}
	}
	for _, p := range history.Pairs(ops) {
		in := p.Invoke
		if in.F != history.FRead || in.Stale || (l.Workload != "" && in.Workload != l.Workload) {
			continue
		}
		if p.Type() != history.OK || p.Complete.Account == nil {
			continue
		}
		a := p.Complete.Account
		read := acct{Limit: a.CreditLimit, Owed: a.Used + a.Pending, Accepted: a.Accepted, Repaid: a.Repaid}
		out[in.User] = append(out[in.User], linOp{
			op:  porcupine.Operation{ClientId: in.Process, Input: linIn{F: "read"}, Call: in.Time, Output: linOut{Read: read}, Return: p.Complete.Time},
			ops: []int{in.Index, p.Complete.Index},
		})
	}
	for u := range out {
		sort.SliceStable(out[u], func(i, j int) bool { return out[u][i].op.Call < out[u][j].op.Call })
	}
	return out, limits
}

func (l Linearizable) checkUser(r *Result, user uint64, limit int64, lops []linOp, timeout time.Duration) {
	model := modelFor(limit)
	// Porcupine draws one row per client id and wants them small and
	// non-negative; history processes may be negative (setup, final reads).
	var procs []int
	for _, lo := range lops {
		procs = append(procs, lo.op.ClientId)
	}
	sort.Ints(procs)
	procs = slices.Compact(procs)
	hist := make([]porcupine.Operation, len(lops))
	for i, lo := range lops {
		hist[i] = lo.op
		hist[i].ClientId, _ = slices.BinarySearch(procs, lo.op.ClientId)
	}
	r.Stats["operations"] += len(hist)
	res, info := porcupine.CheckOperationsVerbose(model, hist, timeout)
	switch res {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		r.unknown("user %d: Porcupine timed out after %s on %d operations", user, timeout, len(hist))
		r.Anomalies[CheckTimeout]++
		return
	}
	// Illegal. Writes alone linearizable → the reads are at fault.
	var writes []porcupine.Operation
	for _, o := range hist {
		if o.Input.(linIn).F != "read" {
			writes = append(writes, o)
		}
	}
	kind := Nonlinearizable
	if porcupine.CheckOperationsTimeout(model, writes, timeout) == porcupine.Ok {
		kind = StaleRead
	}
	a := Anomaly{Kind: kind, User: user}
	a.Detail, a.Ops = counterExample(model, hist, lops, info)
	if kind == StaleRead {
		a.Detail = "writes alone linearize, reads do not: " + a.Detail
	}
	if l.OutDir != "" {
		path := filepath.Join(l.OutDir, fmt.Sprintf("linearizability-user-%d.html", user))
		if err := os.MkdirAll(l.OutDir, 0o755); err == nil {
			if err := porcupine.VisualizePath(model, info, path); err == nil {
				r.Files = append(r.Files, path)
				a.Detail += "; see " + filepath.Base(path)
			}
		}
	}
	r.add(a)
}

// counterExample names the operations that the longest partial
// linearization could not place: the earliest-called one left out, and the
// prefix it could not follow.
func counterExample(model porcupine.Model, hist []porcupine.Operation, lops []linOp, info porcupine.LinearizationInfo) (string, []int) {
	parts := info.PartialLinearizations()
	var best []int
	for _, part := range parts {
		for _, lin := range part {
			if len(lin) > len(best) {
				best = lin
			}
		}
	}
	placed := make(map[int]bool, len(best))
	for _, i := range best {
		placed[i] = true
	}
	stuck := -1
	for i := range hist {
		if !placed[i] && (stuck < 0 || hist[i].Call < hist[stuck].Call) {
			stuck = i
		}
	}
	if stuck < 0 {
		return "no linearization found", nil
	}
	state := "initial state"
	if len(best) > 0 {
		// Replay the prefix to name the state the stuck op met.
		states := []interface{}{model.Init()}
		for _, i := range best {
			_, next := model.Step(states[0], hist[i].Input, hist[i].Output)
			states[0] = next
		}
		state = model.DescribeState(states[0])
	}
	o := hist[stuck]
	return fmt.Sprintf("%d of %d operations linearize; then %q (called at %s) cannot follow (state: %s)",
		len(best), len(hist), model.DescribeOperation(o.Input, o.Output), fmtTime(o.Call), state), lops[stuck].ops
}
