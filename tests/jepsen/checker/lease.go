package checker

import (
	"fmt"
	"slices"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// WriteAfterLeaseExpiry names a write that a zone accepted after its
// ownership lease had certainly run out (guarantee 7 of DESIGN.md).
const WriteAfterLeaseExpiry = "write-after-lease-expiry"

// Lease checks that a zone cut off from the meta group stops accepting
// writes once its lease has run out. For each fault window of one of Faults
// (the nemesis's zone-from-meta cuts, which carry the zone), it looks at the
// writes (pays and repays) of users of that zone that were acknowledged
// before the nemesis began to heal the cut. The lease the zone held when the
// cut began was asked for before the cut, so it ends by cut start +
// Duration; a write whose acknowledged attempt was sent after that instant
// was accepted without a lease and is a WriteAfterLeaseExpiry. (The fault's
// start is recorded once the rules are in place, and a write's invoke
// before the request leaves, so both bounds lean towards the server.)
//
// A write sent before the lease's end and acknowledged after it may have
// committed in time; it is counted (stat acked-after-expiry-sent-before)
// but not flagged. Replays of an already applied key (answered 200, not
// 201) are answered from the idempotency index and are not new writes.
type Lease struct {
	// Duration is the servers' lease duration (rzone server
	// --lease-duration; 3s by default).
	Duration time.Duration
	// Faults are the fault kinds that cut a zone off from the meta group.
	Faults []string
}

// Name implements Checker.
func (Lease) Name() string { return "lease" }

// Check implements Checker.
func (l Lease) Check(ops []history.Op) *Result {
	r := newResult(l.Name())
	var cuts []history.Window
	for _, w := range history.Windows(ops) {
		if slices.Contains(l.Faults, w.Fault) && w.Zone != "" && w.Error == "" {
			cuts = append(cuts, w)
		}
	}
	r.Stats["cuts"] = len(cuts)
	if len(cuts) == 0 {
		return r
	}
	pairs := history.Pairs(ops)
	for _, w := range cuts {
		expiry := w.Start + int64(l.Duration)
		for _, p := range pairs {
			in := p.Invoke
			if (in.F != history.FPay && in.F != history.FRepay) || in.Zone != w.Zone || p.Type() != history.OK {
				continue
			}
			ack := p.Complete
			if ack.Time < w.Start || ack.Time >= w.HealStart {
				continue
			}
			r.Stats["acked-during-cut"]++
			if ack.Time <= expiry {
				continue
			}
			if !ack.Created {
				r.Stats["replays-after-expiry"]++
				continue
			}
			if in.Time <= expiry {
				r.Stats["acked-after-expiry-sent-before"]++
				continue
			}
			r.add(Anomaly{Kind: WriteAfterLeaseExpiry, User: in.User, Key: in.Key, Node: ack.Node, Ops: []int{in.Index, ack.Index},
				Detail: fmt.Sprintf("%s acknowledged (status %q, log index %d) by zone %s, sent %.3fs and acknowledged %.3fs after zone %s was cut off from the meta group at %.3fs; its lease ran out by %.3fs",
					in.F, ack.Status, ack.LogIndex, w.Zone, secs(in.Time-w.Start), secs(ack.Time-w.Start), w.Zone, secs(w.Start), secs(expiry))})
		}
	}
	return r
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }
