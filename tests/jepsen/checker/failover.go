package checker

import (
	"fmt"
	"math"
	"sort"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// Anomalies of zone failover and reconciliation.
const (
	// GuardInvariantViolated names accounts that reconciliation found off
	// the blacklist although the zone held writes to them that the
	// failover store lacked (docs/DESIGN.md, Failover: every account with a
	// committed write the backup's replica has not applied is marked).
	GuardInvariantViolated = "guard-invariant-violated"
	// RecoverIncomplete names a failed-over zone whose reconciliation did
	// not end with the zone normal and a report.
	RecoverIncomplete = "recover-incomplete"
	// FailoverIncomplete names a lost zone that was not failed over in
	// time, with automatic failover on.
	FailoverIncomplete = "failover-incomplete"
	// UnexpectedFailover names a zone that was failed over although the
	// fault did not take it down.
	UnexpectedFailover = "unexpected-failover"
)

// Failover judges the failovers of a run from the nemesis's fault-step
// entries: every recover step must leave its zone normal with a
// reconciliation report that lists no violations, every failover fault must
// reach the failover phase and be recovered. Voided duplicates are
// reported (stat voided, one note each) and are what reconciliation is
// for: the zone's copy of a key stands, the store's is void. They are
// compared with what the clients were told of their keys: a key a client
// was answered declined (the zone's copy charges it) is a StatusFlip, one
// answered charged another amount than the zone's copy a WrongAmount.
type Failover struct {
	// Faults are the fault kinds that must fail their zone over and
	// recover it; a recover step of another fault (a kill-zone that
	// outlived the lease) is judged too.
	Faults []string
}

// Name implements Checker.
func (Failover) Name() string { return "failover" }

// Check implements Checker.
func (f Failover) Check(ops []history.Op) *Result {
	r := newResult(f.Name())
	keys := map[keyOf]*write{}
	for _, w := range collectWrites(ops, history.FPay, "") {
		keys[keyOf{w.user, w.key}] = w
	}
	zoneOf := map[int]string{}
	for _, w := range history.Windows(ops) {
		zoneOf[w.ID] = w.Zone
	}
	steps := map[int]map[string]history.Op{}
	for _, op := range ops {
		if op.Process != history.NemesisProcess || op.F != history.FFaultStep {
			continue
		}
		if op.Zone != zoneOf[op.FaultID] {
			// A recover of a zone the fault did not take down.
			r.add(Anomaly{Kind: UnexpectedFailover, Ops: []int{op.Index},
				Detail: fmt.Sprintf("fault #%d took down zone %s, yet zone %s was failed over too; its recover: %s %s", op.FaultID, zoneOf[op.FaultID], op.Zone, op.Message, op.Error)})
			continue
		}
		if steps[op.FaultID] == nil {
			steps[op.FaultID] = map[string]history.Op{}
		}
		steps[op.FaultID][op.Step] = op
	}
	for _, w := range history.Windows(ops) {
		st := steps[w.ID]
		must := contains(f.Faults, w.Fault)
		if !must && st["recover"].F == "" {
			continue
		}
		r.Stats["faults"]++
		if must {
			// A failover of a live zone (failover-live) kills nothing; it
			// cuts the zone's replication first.
			first := "kill"
			if _, live := st["cut"]; live {
				first = "cut"
			}
			if k, ok := st[first]; !ok || k.Error != "" {
				r.unknown("fault #%d (%s of zone %s) did not %s the zone: %s", w.ID, w.Fault, w.Zone, first, w.Error)
				continue
			}
			if fo := st["failover"]; fo.F == "" || fo.Error != "" {
				var at []int
				if fo.F != "" {
					at = []int{fo.Index}
				}
				r.add(Anomaly{Kind: FailoverIncomplete, Ops: at,
					Detail: fmt.Sprintf("fault #%d: zone %s was lost at %s and not failed over: %s", w.ID, w.Zone, fmtTime(w.Start), orNone(fo.Error))})
			}
		}
		f.checkRecover(r, w, st["recover"], keys)
	}
	if r.Stats["faults"] == 0 {
		r.unknown("no failover was carried out, nothing to check")
	}
	return r
}

// checkRecover judges one recover step.
func (f Failover) checkRecover(r *Result, w history.Window, op history.Op, keys map[keyOf]*write) {
	if op.F == "" {
		r.add(Anomaly{Kind: RecoverIncomplete,
			Detail: fmt.Sprintf("fault #%d: zone %s lost at %s has no recover step", w.ID, w.Zone, fmtTime(w.Start))})
		return
	}
	rec := op.Reconcile
	if op.Error != "" || rec == nil || rec.Phase != "normal" || rec.Report == nil {
		phase := "unknown"
		if rec != nil {
			phase = rec.Phase
		}
		r.add(Anomaly{Kind: RecoverIncomplete, Ops: []int{op.Index},
			Detail: fmt.Sprintf("fault #%d: zone %s is %s after its recover: %s", w.ID, w.Zone, phase, orNone(op.Error))})
		if rec == nil || rec.Report == nil {
			return
		}
	}
	rep := rec.Report
	r.Stats["reconciliations"]++
	r.Stats["blacklisted"] += rec.Blacklist
	r.Stats["merged"] += rep.Merged
	r.Stats["taken"] += rep.Taken
	r.Stats["kept"] += rep.Kept
	r.Stats["voided"] += len(rep.Voided)
	if len(rep.Violations) > 0 {
		v := append([]uint64(nil), rep.Violations...)
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		r.add(Anomaly{Kind: GuardInvariantViolated, Ops: []int{op.Index},
			Detail: fmt.Sprintf("zone %s (fault #%d, store %s): accounts %v had writes in the zone that the failover store lacked, yet were not blacklisted", w.Zone, w.ID, rec.Store, v)})
	}
	if rep.Unmerged > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("zone %s: %d store writes could not be carried over", w.Zone, rep.Unmerged))
	}
	for i, v := range rep.Voided {
		f.checkVoided(r, w, v, keys[keyOf{v.User, v.Key}])
		if i == maxExamples {
			r.Notes = append(r.Notes, fmt.Sprintf("zone %s: %d more duplicates voided", w.Zone, len(rep.Voided)-i))
		}
		if i >= maxExamples {
			continue
		}
		r.Notes = append(r.Notes, fmt.Sprintf("zone %s: duplicate voided: user %d key %s (store's copy %d, zone's copy %d kept)", w.Zone, v.User, v.Key, v.Amount, v.ZoneAmount))
	}
}

// checkVoided compares a voided duplicate with what the clients were told
// of its key: the zone's copy stands, so the key is charged ZoneAmount; a
// client told it was declined, or told it was charged another amount, was
// told wrong (guarantee 8).
func (f Failover) checkVoided(r *Result, win history.Window, v history.Voided, w *write) {
	if w == nil {
		return
	}
	charged, refused := w.answers()
	switch {
	case len(refused) > 0:
		r.add(Anomaly{Kind: StatusFlip, User: v.User, Key: v.Key, Ops: refused,
			Detail: fmt.Sprintf("zone %s kept its copy (%d) of a key a client was answered declined; the store's copy was voided at reconciliation", win.Zone, v.ZoneAmount)})
	case len(charged) > 0 && v.ZoneAmount != w.amount:
		r.add(Anomaly{Kind: WrongAmount, User: v.User, Key: v.Key, Ops: charged,
			Detail: fmt.Sprintf("answered charged %d, zone %s kept its copy of %d at reconciliation", w.amount, win.Zone, v.ZoneAmount)})
	}
}

func orNone(s string) string {
	if s == "" {
		return "no step recorded"
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eras tells, per zone, where a failover of the zone separates two spaces
// of log indexes: a failover store is its own Raft group, and
// reconciliation writes the store's payments into the zone again at new
// indexes. Log indexes of a user's writes compare only within one era.
//
// While a zone is reconciled (its recover step), its users are answered by
// the store until their shard is merged and by the zone after: a key
// answered in that window by both (a voided duplicate) carries two
// indexes legitimately, so answers given then are compared with none.
type eras struct {
	bounds  map[string][]int64
	merging map[string][][2]int64
	// contradicted are the keys a reconciliation report listed as
	// declined by the zone and charged by the failover store.
	contradicted map[keyOf]bool
}

// failoverEras returns the eras of the history: each zone window that has
// fault steps (a failover, or a kill-zone that was reconciled) bounds an era
// at its start and at its end, for its zone and for any other zone it
// recorded a step of (one failed over unexpectedly).
func failoverEras(ops []history.Op) eras {
	// An era begins when the zone is lost (its kill step), not when the
	// fault begins: writes the zone acknowledged in the fault's lag step
	// belong with the zone's earlier ones, and a key acknowledged there
	// and again by the store is the hard case, two eras apart. It ends
	// with the recover step (or the fault's end).
	// A failover of a live zone (failover-live) kills nothing: the zone
	// answers until its lease ends, after the operator's command, so its
	// era ends when the store serves (the end of the failover step).
	type bounds struct{ start, promoted, recovering, end int64 }
	stepped := map[int]map[string]*bounds{}
	for _, op := range ops {
		if op.Process == history.NemesisProcess && op.F == history.FFaultStep && op.Zone != "" {
			if stepped[op.FaultID] == nil {
				stepped[op.FaultID] = map[string]*bounds{}
			}
			// The fault's zone, and any other zone it saw failed over.
			b := stepped[op.FaultID][op.Zone]
			if b == nil {
				b = &bounds{}
				stepped[op.FaultID][op.Zone] = b
			}
			switch op.Step {
			case "kill":
				b.start = op.StepStart
			case "failover":
				b.promoted = op.Time
			case "recover":
				b.recovering, b.end = op.StepStart, op.Time
			}
		}
	}
	out := eras{bounds: map[string][]int64{}, merging: map[string][][2]int64{}, contradicted: map[keyOf]bool{}}
	for _, op := range ops {
		if op.Reconcile == nil || op.Reconcile.Report == nil {
			continue
		}
		for _, c := range op.Reconcile.Report.Contradicted {
			if c.Zone.Status == "declined" && paid(c.Store.Status) {
				out.contradicted[keyOf{c.User, c.Key}] = true
			}
		}
	}
	for _, w := range history.Windows(ops) {
		for z, b := range stepped[w.ID] {
			start, end := w.Start, w.End
			switch {
			case b.start != 0:
				start = b.start
			case b.promoted != 0:
				start = b.promoted
			}
			if b.end != 0 {
				end = max(b.end, start)
			}
			out.bounds[z] = append(out.bounds[z], start, end)
			if b.recovering != 0 {
				out.merging[z] = append(out.merging[z], [2]int64{b.recovering, end})
			}
		}
	}
	return out
}

// declinedThenReplayed reports whether a key answered both declined and
// charged is the limit the README states for failovers: the zone declined
// it among the writes its backup never received, the client sent it again
// (a replay: a real client retries only keys whose answer it did not get),
// the failover store accepted it, and reconciliation listed the key as
// contradicted. Every decline must come in an era before every charge,
// and every charge must answer a replay.
func (e eras) declinedThenReplayed(w *write) bool {
	if !e.contradicted[keyOf{w.user, w.key}] {
		return false
	}
	lastRefused, firstCharged := int64(-1), int64(math.MaxInt64)
	for _, c := range w.oks {
		if paid(c.Status) {
			if !c.Replay {
				return false
			}
			firstCharged = min(firstCharged, c.Time)
		} else {
			lastRefused = max(lastRefused, c.Time)
		}
	}
	return lastRefused >= 0 && firstCharged < math.MaxInt64 && e.of(w.zone, lastRefused) < e.of(w.zone, firstCharged)
}

// of returns the era of history time t in zone.
func (e eras) of(zone string, t int64) int {
	n := 0
	for _, b := range e.bounds[zone] {
		if b <= t {
			n++
		}
	}
	return n
}

// duringMerge reports whether history time t falls in a reconciliation of
// zone.
func (e eras) duringMerge(zone string, t int64) bool {
	for _, w := range e.merging[zone] {
		if t >= w[0] && t <= w[1] {
			return true
		}
	}
	return false
}
