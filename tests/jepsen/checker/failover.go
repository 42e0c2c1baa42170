package checker

import (
	"fmt"
	"sort"
	"time"

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
	// Lease is the servers' ownership lease. The key checkers take the
	// end of a kill step as the turn from the zone's answers to the
	// store's, which holds while the kill is quick: the store serves
	// only once the zone's lease has ended. A kill step longer than half
	// the lease leaves that turn unclear, and the verdict unknown. Zero:
	// not judged.
	Lease time.Duration
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
			k, ok := st[first]
			if !ok || k.Error != "" {
				why := orNone(k.Error)
				if k.Error == "" && w.Error != "" {
					why = w.Error
				}
				r.unknown("fault #%d (%s of zone %s) did not %s the zone: %s", w.ID, w.Fault, w.Zone, first, why)
				continue
			}
			if took := time.Duration(k.Time - k.StepStart); first == "kill" && f.Lease > 0 && took > f.Lease/2 {
				r.unknown("fault #%d: killing zone %s took %s, over half the lease (%s): its last answers and the store's first are not told apart by time", w.ID, w.Zone, took.Round(time.Millisecond), f.Lease)
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
	// serving are the spans in which only a failover store of the zone
	// could answer: from the end of its failover step (the zone killed,
	// its lease over, seconds before) to the end of its era.
	serving map[string][][2]int64
	// contradicted are the keys a reconciliation report listed as
	// declined by the zone and charged by the failover store, with the
	// failover whose report listed them.
	contradicted map[keyOf][]contradiction
}

// contradiction is one key a reconciliation report listed as declined by
// the zone and charged by the failover store: the zone reconciled, when
// its fault began and when the report was read, and the log index of each
// side's decision.
type contradiction struct {
	zone                 string
	faultStart, reported int64
	zoneIndex            uint64
	storeIndex           uint64
}

// failoverEras returns the eras of the history: each zone window that has
// fault steps (a failover, or a kill-zone that was reconciled) bounds an era
// at its start and at its end, for its zone and for any other zone it
// recorded a step of (one failed over unexpectedly).
func failoverEras(ops []history.Op) eras {
	// An era begins when the zone is lost (the end of its kill step, once
	// every node of the zone is dead), not when the fault begins: writes
	// the zone acknowledged in the fault's lag step, or while its nodes
	// were being killed (the leader may be the last to die), belong with
	// the zone's earlier ones, and a key acknowledged there and again by
	// the store is the hard case, two eras apart. The store answers only
	// after the zone's lease has ended, seconds after the kill. A reply
	// the zone sent before it died and its client read after the kill
	// step ended was sent in one era and answered in the next: its index
	// is compared with none (checkAnswers). An era ends with the recover
	// step (or the fault's end).
	// A failover of a live zone (failover-live) kills nothing: the zone
	// answers until its lease ends, after the operator's command, so its
	// era ends when the store serves (the end of the failover step).
	type bounds struct{ killing, start, promoted, recovering, end int64 }
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
				b.killing, b.start = op.StepStart, op.Time
			case "failover":
				b.promoted = op.Time
			case "recover":
				b.recovering, b.end = op.StepStart, op.Time
			}
		}
	}
	out := eras{bounds: map[string][]int64{}, merging: map[string][][2]int64{}, serving: map[string][][2]int64{}, contradicted: map[keyOf][]contradiction{}}
	windows := history.Windows(ops)
	// A fault began at its window's start or at its kill, whichever came
	// first: without a cut before the kill, the fault's entry is
	// recorded once the kill is done.
	began := map[int]int64{}
	for _, w := range windows {
		began[w.ID] = w.Start
		if b := stepped[w.ID][w.Zone]; b != nil && b.killing != 0 {
			began[w.ID] = min(began[w.ID], b.killing)
		}
	}
	for _, op := range ops {
		if op.Process != history.NemesisProcess || op.F != history.FFaultStep || op.Reconcile == nil || op.Reconcile.Report == nil {
			continue
		}
		start, ok := began[op.FaultID]
		if !ok {
			continue
		}
		for _, c := range op.Reconcile.Report.Contradicted {
			if c.Zone.Status == "declined" && paid(c.Store.Status) {
				k := keyOf{c.User, c.Key}
				out.contradicted[k] = append(out.contradicted[k], contradiction{zone: op.Zone, faultStart: start, reported: op.Time,
					zoneIndex: c.Zone.Index, storeIndex: c.Store.Index})
			}
		}
	}
	for _, w := range windows {
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
			if b.start != 0 && b.promoted > b.start {
				// Only after a kill: a live zone answers until its lease
				// ends, shortly before its store serves.
				out.serving[z] = append(out.serving[z], [2]int64{b.promoted, end})
			}
		}
	}
	return out
}

// declinedThenReplayed reports whether a key answered both declined and
// charged is the limit the README states for failovers: the zone declined
// it among its last writes before it was lost, the client sent it again
// (a replay: a real client retries only keys whose answer it did not get),
// the failover store accepted it, and that failover's reconciliation
// listed the key as contradicted. For one such report of the key's zone:
// every decline came after the fault began, in the era just before the
// store's (the zone's last writes), with the zone's log index if the
// answer carried one; every charge answered a replay, in the store's era
// before the report, with the store's log index if it carried one.
func (e eras) declinedThenReplayed(w *write) bool {
	for _, c := range e.contradicted[keyOf{w.user, w.key}] {
		if c.zone == w.zone && e.explains(c, w) {
			return true
		}
	}
	return false
}

// explains reports whether contradiction c accounts for every answer of w
// (declinedThenReplayed).
func (e eras) explains(c contradiction, w *write) bool {
	charged, refused := 0, 0
	storeEra := -1
	for _, op := range w.oks {
		if paid(op.Status) {
			era := e.of(w.zone, op.Time)
			if !op.Replay || op.Time > c.reported || (storeEra >= 0 && era != storeEra) || (op.LogIndex != 0 && op.LogIndex != c.storeIndex) {
				return false
			}
			storeEra = era
			charged++
		}
	}
	if charged == 0 || storeEra < 1 {
		return false
	}
	for _, op := range w.oks {
		if !paid(op.Status) {
			if op.Time < c.faultStart || e.of(w.zone, op.Time) != storeEra-1 || (op.LogIndex != 0 && op.LogIndex != c.zoneIndex) {
				return false
			}
			refused++
		}
	}
	return refused > 0
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
	return within(e.merging[zone], t)
}

// storeOnly reports whether history time t falls where only a failover
// store of zone could have answered (serving).
func (e eras) storeOnly(zone string, t int64) bool {
	return within(e.serving[zone], t)
}

func within(spans [][2]int64, t int64) bool {
	for _, w := range spans {
		if t >= w[0] && t <= w[1] {
			return true
		}
	}
	return false
}
