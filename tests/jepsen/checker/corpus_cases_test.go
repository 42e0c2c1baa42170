package checker

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/corpus/*.jsonl from corpusCases")

// corpusCase is a hand-made history of the corpus: a broken history that a
// checker once called valid, or a sound one that must stay valid.
type corpusCase struct {
	name   string
	expect expectation
	build  func() []history.Op
}

// nem adds a nemesis entry.
func (h *hb) nem(op history.Op) *hb {
	op.Type, op.Process = history.Info, history.NemesisProcess
	return h.add(op)
}

// faultStart and faultEnd add a fault window of kind on zone; err is the
// fault's error (it did not apply), or the heal's.
func (h *hb) faultStart(id int, kind, zone, err string) *hb {
	return h.nem(history.Op{F: history.FFault, Fault: kind, FaultID: id, Zone: zone, Error: err})
}

func (h *hb) faultEnd(id int, kind, zone, err string) *hb {
	return h.nem(history.Op{F: history.FHeal, Fault: kind, FaultID: id, Zone: zone, Error: err, HealStart: h.now()})
}

// failover adds a failover of zone (fault id): its kill and failover
// steps, store (the writes the failover store takes), its recover step
// with rep and the window's end.
func (h *hb) failover(id int, zone string, store func(*hb), rep *history.ReconcileReport) *hb {
	step := func(name string, rec *history.Reconcile) {
		h.nem(history.Op{F: history.FFaultStep, Fault: "failover", FaultID: id, Zone: zone, Step: name, StepStart: h.now(), Reconcile: rec})
	}
	h.faultStart(id, "failover", zone, "")
	step("kill", nil)
	step("failover", nil)
	store(h)
	step("recover", &history.Reconcile{Phase: "normal", Ready: true, Store: zone + "-f1", Report: rep})
	return h.faultEnd(id, "failover", zone, "")
}

// failoverLive adds an operator failover of live zone (fault id):
// zoneSide runs during its cut and the failover command (the zone still
// answers), store while the store serves, then the recover with rep.
func (h *hb) failoverLive(id int, zone string, zoneSide, store func(*hb), rep *history.ReconcileReport) *hb {
	return h.failoverLiveMerging(id, zone, zoneSide, store, nil, rep)
}

// failoverLiveMerging is failoverLive with merging run during the recover
// step (answers given while the zone is reconciled).
func (h *hb) failoverLiveMerging(id int, zone string, zoneSide, store, merging func(*hb), rep *history.ReconcileReport) *hb {
	step := func(name string, start int64, rec *history.Reconcile) {
		h.nem(history.Op{F: history.FFaultStep, Fault: "failover-live", FaultID: id, Zone: zone, Step: name, StepStart: start, Reconcile: rec})
	}
	h.faultStart(id, "failover-live", zone, "")
	cut := h.now()
	zoneSide(h)
	step("cut", cut, nil)
	step("failover", h.now(), nil)
	store(h)
	step("serve", h.now(), nil)
	recovering := h.now()
	if merging != nil {
		merging(h)
	}
	step("recover", recovering, &history.Reconcile{Phase: "normal", Ready: true, Store: zone + "-f1", Report: rep})
	return h.faultEnd(id, "failover-live", zone, "")
}

func (h *hb) finalFail(node string, user uint64) *hb {
	return h.add(history.Op{Type: history.Fail, Process: 100, F: history.FFinalRead, Node: node, User: user,
		Error: "transport", Message: "connection refused"})
}

func (h *hb) declined(p int, user uint64, key string, amt int64) *hb {
	return h.payInvoke(p, user, key, amt).payDone(p, user, key, amt, history.OK, "declined", false, 0)
}

func (h *hb) unanswered(p int, user uint64, key string, amt int64) *hb {
	return h.payInvoke(p, user, key, amt).payDone(p, user, key, amt, history.Info, "", false, 0)
}

// schedCase is the scheduler history of sched_test.go with change applied
// to its final reads.
func schedCase(change func(map[uint64]*history.Op)) func() []history.Op {
	return func() []history.Op {
		h := &schedHistory{}
		h.setup()
		for i, job := range SchedJobs {
			h.run(uint64(i+1), job, true)
		}
		reads := map[uint64]*history.Op{}
		for u := uint64(1); u <= 4; u++ {
			r := read(u)
			reads[u] = &r
		}
		if change != nil {
			change(reads)
		}
		for u := uint64(1); u <= 4; u++ {
			h.pair(*reads[u], history.OK, nil)
		}
		return h.ops
	}
}

var corpusCases = []corpusCase{
	// The bank workload judged by totals alone.
	{
		name:   "bank-lost-ack-hidden-by-unknown",
		expect: expectation{Verdict: Invalid, Anomaly: LostWrite, Checkers: []string{"bank"}, About: "an acknowledged payment is lost, and an unanswered one of the same amount makes the total look right"},
		build: func() []history.Op {
			h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 100, 5).unanswered(1, 1, "b", 100)
			return h.final("n1", 1, 9, mkAcct(1000, 0, 100, 100, 0), pmt("b", 100, "accepted", 6)).ops
		},
	},
	{
		name:   "bank-declined-charged",
		expect: expectation{Verdict: Invalid, Anomaly: StatusFlip, Checkers: []string{"bank"}, About: "a payment answered 422 is charged; an unanswered one's slack hides it in the totals"},
		build: func() []history.Op {
			h := (&hb{}).put(0, 1, 1000).declined(0, 1, "a", 100).unanswered(1, 1, "b", 100)
			return h.final("n1", 1, 9, mkAcct(1000, 0, 100, 100, 0), pmt("a", 100, "accepted", 5)).ops
		},
	},
	// A key without an acknowledgement compared on amount.
	{
		name:   "set-unanswered-wrong-amount",
		expect: expectation{Verdict: Invalid, Anomaly: WrongAmount, Checkers: []string{"set"}, About: "a payment sent for 100 and never answered is charged 900"},
		build: func() []history.Op {
			h := (&hb{}).put(0, 1, 1000).unanswered(0, 1, "a", 100)
			return h.final("n1", 1, 9, mkAcct(1000, 0, 900, 900, 0), pmt("a", 900, "accepted", 5)).ops
		},
	},
	// Answers of different failover eras.
	{
		name:   "failover-declined-then-store-accepted",
		expect: expectation{Verdict: Invalid, Anomaly: StatusFlip, Checkers: []string{"set"}, About: "the zone answers 422, a replay in the failover store answers 201, the key ends declined"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 100).pay(0, 1, "p", 50, 5).declined(0, 1, "k", 80)
			h.failover(1, "A", func(h *hb) {
				h.payInvoke(1, 1, "k", 80).payDone(1, 1, "k", 80, history.OK, "accepted", true, 3)
			}, &history.ReconcileReport{Shards: 33, Merged: 1})
			return h.final("n1", 1, 20, mkAcct(100, 0, 50, 50, 0), pmt("p", 50, "accepted", 5), pmt("k", 80, "declined", 6)).ops
		},
	},
	{
		name:   "failover-voided-other-amount",
		expect: expectation{Verdict: Invalid, Anomaly: WrongAmount, Checkers: []string{"failover"}, About: "the store answered 201 for 100; reconciliation voided its copy and kept the zone's of 300"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000).unanswered(0, 1, "k", 100)
			h.failover(1, "A", func(h *hb) {
				h.payInvoke(0, 1, "k", 100).payDone(0, 1, "k", 100, history.OK, "accepted", true, 3)
			}, &history.ReconcileReport{Shards: 33, Voided: []history.Voided{{User: 1, Key: "k", Amount: 100, ZoneAmount: 300}}})
			return h.final("n1", 1, 20, mkAcct(1000, 0, 300, 300, 0), pmt("k", 300, "accepted", 5)).ops
		},
	},
	// Vacuous lease checks and faults that never happened.
	{
		name:   "lease-no-cut",
		expect: expectation{Verdict: Unknown, Checkers: []string{"lease"}, About: "no zone was cut off: the lease checker checked nothing"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000).pay(0, 1, "a", 10, 5)
			return h.final("n1", 1, 9, mkAcct(1000, 0, 10, 10, 0), pmt("a", 10, "accepted", 5)).ops
		},
	},
	{
		name:   "lease-cut-heal-failed",
		expect: expectation{Verdict: Invalid, Anomaly: WriteAfterLeaseExpiry, Checkers: []string{"lease"}, About: "a write sent 5s into a cut is accepted; the cut's heal then failed"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000).faultStart(1, "partition-zone", "A", "").wait(5 * time.Second)
			h.pay(1, 1, "k", 10, 7).faultEnd(1, "partition-zone", "A", "iptables: bad rule")
			return h.final("n1", 1, 9, mkAcct(1000, 0, 10, 10, 0), pmt("k", 10, "accepted", 7)).ops
		},
	},
	{
		name:   "faults-never-applied",
		expect: expectation{Verdict: Unknown, Checkers: []string{"faults"}, About: "the only requested fault failed to apply"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000).faultStart(1, "partition-zone", "A", "iptables: permission denied").pay(0, 1, "a", 10, 5)
			h.faultEnd(1, "partition-zone", "A", "")
			return h.final("n1", 1, 9, mkAcct(1000, 0, 10, 10, 0), pmt("a", 10, "accepted", 5)).ops
		},
	},
	// Lease expiry judged by a key's earliest invoke.
	{
		name:   "lease-first-sent-after-expiry-answered-200",
		expect: expectation{Verdict: Invalid, Anomaly: WriteAfterLeaseExpiry, Checkers: []string{"lease"}, About: "a key first sent after the lease ran out times out, commits, and its retry is answered 200"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000).faultStart(1, "partition-zone", "A", "").wait(5 * time.Second)
			h.unanswered(1, 1, "k", 10).payInvoke(1, 1, "k", 10).payDone(1, 1, "k", 10, history.OK, "accepted", false, 7)
			h.faultEnd(1, "partition-zone", "A", "")
			return h.final("n1", 1, 9, mkAcct(1000, 0, 10, 10, 0), pmt("k", 10, "accepted", 7)).ops
		},
	},
	{
		name:   "lease-declined-after-expiry",
		expect: expectation{Verdict: Invalid, Anomaly: WriteAfterLeaseExpiry, Checkers: []string{"lease"}, About: "a key first sent after the lease ran out is answered 422, a logged write"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000).faultStart(1, "partition-zone", "A", "").wait(5 * time.Second)
			h.declined(1, 1, "k", 5000).faultEnd(1, "partition-zone", "A", "")
			return h.final("n1", 1, 9, mkAcct(1000, 0, 0, 0, 0), pmt("k", 5000, "declined", 7)).ops
		},
	},
	// The over-limit allowance of a failover.
	{
		name:   "bank-over-limit-not-merged",
		expect: expectation{Verdict: Invalid, Anomaly: OverLimit, Checkers: []string{"bank"}, About: "after a failover of its zone, an account the store never charged owes more than its limit"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 100).put(0, 2, 100).pay(0, 1, "a", 50, 5).pay(0, 2, "b", 60, 6)
			h.failover(1, "A", func(h *hb) { h.pay(1, 1, "s", 40, 3) }, &history.ReconcileReport{Shards: 33, Merged: 1})
			h.pay(0, 2, "c", 60, 30)
			h.final("n1", 1, 40, mkAcct(100, 0, 90, 90, 0), pmt("a", 50, "accepted", 5), pmt("s", 40, "accepted", 25))
			return h.final("n1", 2, 40, mkAcct(100, 0, 120, 120, 0), pmt("b", 60, "accepted", 6), pmt("c", 60, "accepted", 30)).ops
		},
	},
	{
		name:   "bank-over-limit-after-next-payment",
		expect: expectation{Verdict: Invalid, Anomaly: OverLimit, Checkers: []string{"bank"}, About: "a merged account over its limit takes a new payment after the reconciliation and stays over"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 100).pay(0, 1, "a", 60, 5)
			h.failover(1, "A", func(h *hb) { h.pay(1, 1, "s", 60, 3) }, &history.ReconcileReport{Shards: 33, Merged: 1})
			h.repay(0, 1, "r", 30, "applied").pay(0, 1, "c", 20, 31)
			return h.final("n1", 1, 40, mkAcct(100, 0, 110, 140, 30), pmt("a", 60, "accepted", 5), pmt("s", 60, "accepted", 25), pmt("c", 20, "accepted", 31)).ops
		},
	},
	// Replicas read and compared.
	{
		name:   "set-replica-unreadable",
		expect: expectation{Verdict: Unknown, Checkers: []string{"set", "bank"}, About: "one replica could not be read at the end"},
		build: func() []history.Op {
			h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5)
			return h.final("n1", 1, 9, mkAcct(1000, 0, 10, 10, 0), pmt("a", 10, "accepted", 5)).finalFail("n2", 1).ops
		},
	},
	{
		name:   "set-replica-ahead-lacks-key",
		expect: expectation{Verdict: Invalid, Anomaly: ReplicaDivergent, Checkers: []string{"set"}, About: "a replica at a higher applied index lacks a payment a replica behind it holds"},
		build: func() []history.Op {
			h := (&hb{}).put(0, 1, 1000).pay(0, 1, "a", 10, 5).unanswered(1, 1, "b", 20)
			h.final("n1", 1, 9, mkAcct(1000, 0, 30, 30, 0), pmt("a", 10, "accepted", 5), pmt("b", 20, "accepted", 7))
			return h.final("n2", 1, 12, mkAcct(1000, 0, 10, 10, 0), pmt("a", 10, "accepted", 5)).ops
		},
	},
	// Batch-run amounts.
	{
		name:   "sched-statement-amount",
		expect: expectation{Verdict: Invalid, Anomaly: WrongAmount, Checkers: []string{"sched"}, About: "a statement of 7 on 100 due"},
		build:  schedCase(func(r map[uint64]*history.Op) { r[1].Notifications[0].Amount = 7 }),
	},
	{
		name:   "sched-reminder-amount",
		expect: expectation{Verdict: Invalid, Anomaly: WrongAmount, Checkers: []string{"sched"}, About: "a reminder of 999,999 on 100 due"},
		build:  schedCase(func(r map[uint64]*history.Op) { r[1].Notifications[1].Amount = 999_999 }),
	},
	{
		name:   "sched-debit-not-repaid",
		expect: expectation{Verdict: Invalid, Anomaly: MissingDebit, Checkers: []string{"sched"}, About: "an applied auto-debit missing from the account's repaid total"},
		build:  schedCase(func(r map[uint64]*history.Op) { r[1].Account.Repaid = 0 }),
	},
	// Nothing checked.
	{
		name:   "empty",
		expect: expectation{Verdict: Unknown, Checkers: []string{"set", "bank", "linearizable", "lease", "sched", "failover", "faults"}, About: "a history without operations"},
		build:  func() []history.Op { return nil },
	},
	// Sound histories that must stay valid.
	{
		name:   "valid-payments",
		expect: expectation{Verdict: Valid, Checkers: []string{"set", "bank"}, About: "accepted, declined, replayed, unanswered-applied and unanswered-absent keys; two replicas level, one behind"},
		build: func() []history.Op {
			h := (&hb{}).put(0, 1, 100).pay(0, 1, "a", 60, 5).declined(1, 1, "b", 50).unanswered(2, 1, "c", 30).unanswered(2, 1, "d", 5)
			h.payInvoke(0, 1, "a", 60).payDone(0, 1, "a", 60, history.OK, "accepted", false, 5)
			h.final("n1", 1, 9, mkAcct(100, 60, 30, 90, 0), pmt("a", 60, "posted", 5), pmt("b", 50, "declined", 6), pmt("c", 30, "accepted", 7))
			h.final("n2", 1, 9, mkAcct(100, 60, 30, 90, 0), pmt("a", 60, "posted", 5), pmt("b", 50, "declined", 6), pmt("c", 30, "accepted", 7))
			return h.final("n3", 1, 6, mkAcct(100, 0, 60, 60, 0), pmt("a", 60, "accepted", 5), pmt("b", 50, "declined", 6)).ops
		},
	},
	{
		name:   "valid-register",
		expect: expectation{Verdict: Valid, Checkers: []string{"linearizable", "set", "bank"}, About: "pays, a decline, an unanswered pay, a repay and linearizable reads of one account"},
		build: func() []history.Op {
			h := &hb{}
			h.put(0, 1, 100).pay(0, 1, "a", 30, 5).read(1, 1, mkAcct(100, 0, 30, 30, 0))
			h.declined(0, 1, "b", 80).unanswered(2, 1, "c", 10)
			h.read(1, 1, mkAcct(100, 0, 30, 30, 0)).read(1, 1, mkAcct(100, 40, 0, 40, 0))
			h.repay(0, 1, "r", 15, "applied").read(1, 1, mkAcct(100, 25, 0, 40, 15))
			h.final("n1", 1, 12, mkAcct(100, 25, 0, 40, 15), pmt("a", 30, "posted", 5), pmt("b", 80, "declined", 6), pmt("c", 10, "posted", 7))
			for i := range h.ops {
				h.ops[i].Workload = "register"
			}
			return h.ops
		},
	},
	{
		name:   "valid-lease",
		expect: expectation{Verdict: Valid, Checkers: []string{"lease", "faults"}, About: "a cut with writes answered before the lease ran out, one sent before and answered after, and a retry of a key sent before"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000).unanswered(2, 1, "old", 5).faultStart(1, "partition-zone", "A", "").pay(0, 1, "a", 10, 5)
			h.payInvoke(1, 1, "b", 20).wait(4*time.Second).payDone(1, 1, "b", 20, history.OK, "accepted", true, 6)
			h.payInvoke(2, 1, "old", 5).payDone(2, 1, "old", 5, history.OK, "accepted", false, 4)
			h.wait(2*time.Second).faultEnd(1, "partition-zone", "A", "")
			return h.final("n1", 1, 9, mkAcct(1000, 0, 35, 35, 0), pmt("old", 5, "accepted", 4), pmt("a", 10, "accepted", 5), pmt("b", 20, "accepted", 6)).ops
		},
	},
	{
		name:   "valid-failover",
		expect: expectation{Verdict: Valid, Checkers: []string{"set", "bank", "failover"}, About: "a key the zone accepted before its loss, replayed as new in the store, voided at reconciliation and charged once"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000).pay(0, 1, "k", 10, 40)
			h.failover(1, "A", func(h *hb) { h.pay(0, 1, "k", 10, 12).pay(0, 1, "s", 20, 13) },
				&history.ReconcileReport{Shards: 33, Merged: 1, Voided: []history.Voided{{User: 1, Key: "k", Amount: 10, ZoneAmount: 10}}})
			return h.final("n1", 1, 60, mkAcct(1000, 0, 30, 30, 0), pmt("k", 10, "accepted", 40), pmt("s", 20, "accepted", 55)).ops
		},
	},
	{
		name:   "valid-failover-live",
		expect: expectation{Verdict: Valid, Checkers: []string{"set", "bank", "failover"}, About: "a live zone accepts a key in its last writes; the replay in the store is accepted anew, voided at reconciliation, charged once"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000)
			h.failoverLive(1, "A", func(h *hb) { h.pay(0, 1, "k", 10, 40) }, func(h *hb) { h.pay(0, 1, "k", 10, 52).pay(0, 1, "s", 20, 53) },
				&history.ReconcileReport{Shards: 33, Merged: 1, Voided: []history.Voided{{User: 1, Key: "k", Amount: 10, ZoneAmount: 10}}})
			return h.final("n1", 1, 60, mkAcct(1000, 0, 30, 30, 0), pmt("k", 10, "accepted", 40), pmt("s", 20, "accepted", 53)).ops
		},
	},
	{
		name:   "valid-replay-while-reconciled",
		expect: expectation{Verdict: Valid, Checkers: []string{"set", "bank", "failover"}, About: "a key the zone accepted, accepted anew by the store (voided at reconciliation), replayed while the zone is reconciled: answered with the zone's index"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 1000)
			h.failoverLiveMerging(1, "A", func(h *hb) { h.pay(0, 1, "k", 10, 40) }, func(h *hb) { h.pay(0, 1, "k", 10, 52) },
				func(h *hb) { h.pay(0, 1, "k", 10, 40) },
				&history.ReconcileReport{Shards: 33, Voided: []history.Voided{{User: 1, Key: "k", Amount: 10, ZoneAmount: 10}}})
			return h.final("n1", 1, 60, mkAcct(1000, 0, 10, 10, 0), pmt("k", 10, "accepted", 40)).ops
		},
	},
	{
		name:   "failover-live-zone-decision-wins",
		expect: expectation{Verdict: Invalid, Anomaly: StatusFlip, Checkers: []string{"set"}, About: "the live zone declined k but its answer was lost; the store accepted the retry (201); reconciliation kept the zone's decline"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 100).pay(0, 1, "p", 90, 5)
			h.failoverLive(1, "A", func(h *hb) { h.unanswered(0, 1, "k", 20) }, func(h *hb) {
				h.payInvoke(0, 1, "k", 20).payDone(0, 1, "k", 20, history.OK, "accepted", true, 52)
			}, &history.ReconcileReport{Shards: 33, Kept: 1})
			return h.final("n1", 1, 60, mkAcct(100, 0, 90, 90, 0), pmt("p", 90, "accepted", 5), pmt("k", 20, "declined", 41)).ops
		},
	},
	{
		name:   "valid-over-limit-merged",
		expect: expectation{Verdict: Valid, Checkers: []string{"bank", "set"}, About: "an account merged back from a failover store owes more than its limit and takes no payment after"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 100).pay(0, 1, "a", 60, 5)
			h.failover(1, "A", func(h *hb) { h.pay(1, 1, "s", 60, 3) }, &history.ReconcileReport{Shards: 33, Merged: 1})
			h.declined(0, 1, "c", 20)
			return h.final("n1", 1, 40, mkAcct(100, 0, 120, 120, 0), pmt("a", 60, "accepted", 5), pmt("s", 60, "accepted", 25), pmt("c", 20, "declined", 31)).ops
		},
	},
	{
		name:   "valid-over-limit-merged-then-replayed",
		expect: expectation{Verdict: Valid, Checkers: []string{"bank", "set"}, About: "an account merged back over its limit is sent an old key again after the reconciliation: the replay takes no new credit"},
		build: func() []history.Op {
			h := &hb{zone: "A"}
			h.put(0, 1, 100).pay(0, 1, "a", 60, 5)
			h.failover(1, "A", func(h *hb) { h.pay(1, 1, "s", 60, 3) }, &history.ReconcileReport{Shards: 33, Merged: 1})
			h.payInvoke(0, 1, "a", 60).payDone(0, 1, "a", 60, history.OK, "posted", false, 5)
			return h.final("n1", 1, 40, mkAcct(100, 120, 0, 120, 0), pmt("a", 60, "posted", 5), pmt("s", 60, "posted", 25)).ops
		},
	},
	{
		name:   "valid-sched",
		expect: expectation{Verdict: Valid, Checkers: []string{"sched"}, About: "statements, reminders and auto-debits of what each user owed"},
		build:  schedCase(nil),
	},
}

// TestCorpusFiles checks that testdata/corpus holds each of corpusCases as
// built here (go test -run TestCorpusFiles -update-corpus rewrites them).
func TestCorpusFiles(t *testing.T) {
	for _, c := range corpusCases {
		var buf bytes.Buffer
		head, err := json.Marshal(corpusHeader{Expect: c.expect})
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(head, '\n'))
		if err := history.Write(&buf, c.build()); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(corpusDir, c.name+".jsonl")
		if *updateCorpus {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update-corpus)", err)
		}
		if !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("%s differs from the case built here (run with -update-corpus)", path)
		}
	}
}
