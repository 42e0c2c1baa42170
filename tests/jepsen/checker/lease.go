package checker

import (
	"fmt"
	"slices"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// WriteAfterLeaseExpiry names a write that a zone accepted after its
// ownership lease had certainly run out (guarantee 7 of docs/DESIGN.md).
const WriteAfterLeaseExpiry = "write-after-lease-expiry"

// Lease checks that a zone cut off from the meta group stops accepting
// writes once its lease has run out. For each fault window of one of Faults
// (the nemesis's zone-from-meta cuts, which carry the zone) that was
// applied, it looks at the writes (pays and repays) of users of that zone
// that were answered before the nemesis began to heal the cut (before the
// window's end when the heal failed: the cut may have outlived it). The
// lease the zone held when the cut began was asked for before the cut, so
// it ends by cut start + Duration. A key is judged by its earliest invoke:
// a key first sent after that instant and answered at all (201, a 200
// replay of an attempt that timed out but committed, or a 422, which is a
// logged write too) was written without a lease and is a
// WriteAfterLeaseExpiry. (The fault's start is recorded once the rules are
// in place, and a write's invoke before the request leaves, so both bounds
// lean towards the server.)
//
// A key first sent before the lease's end and answered after it may have
// committed in time; it is counted (stat acked-after-expiry-sent-before)
// but not flagged. A history without an applied cut checked nothing: its
// verdict is unknown.
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
		r.unknown("no zone was cut off from the meta group (%v): nothing to check", l.Faults)
		return r
	}
	type lkey struct {
		f string
		keyOf
	}
	pairs := history.Pairs(ops)
	first := map[lkey]int64{}
	for _, p := range pairs {
		// The earliest attempt that may have applied: one answered with a
		// definite failure (not applied) does not count, so a retry sent
		// after expiry and acknowledged as applied is judged as sent then.
		if p.Type() == history.Fail {
			continue
		}
		in := p.Invoke
		k := lkey{in.F, keyOf{in.User, in.Key}}
		if t, ok := first[k]; !ok || in.Time < t {
			first[k] = in.Time
		}
	}
	for _, w := range cuts {
		expiry := w.Start + int64(l.Duration)
		until := w.HealStart
		if w.HealError != "" {
			until = w.End
			r.Notes = append(r.Notes, fmt.Sprintf("cut #%d of zone %s failed to heal (%s): writes are judged up to %.3fs", w.ID, w.Zone, w.HealError, secs(until)))
		}
		for _, p := range pairs {
			in := p.Invoke
			if (in.F != history.FPay && in.F != history.FRepay) || in.Zone != w.Zone || p.Type() != history.OK {
				continue
			}
			ack := p.Complete
			if ack.Time < w.Start || ack.Time >= until {
				continue
			}
			r.Stats["acked-during-cut"]++
			if ack.Time <= expiry {
				continue
			}
			sent := first[lkey{in.F, keyOf{in.User, in.Key}}]
			if sent <= expiry {
				if ack.Created {
					r.Stats["acked-after-expiry-sent-before"]++
				} else {
					r.Stats["replays-after-expiry"]++
				}
				continue
			}
			r.add(Anomaly{Kind: WriteAfterLeaseExpiry, User: in.User, Key: in.Key, Node: ack.Node, Ops: []int{in.Index, ack.Index},
				Detail: fmt.Sprintf("%s answered (status %q, created %t, log index %d) by zone %s, first sent %.3fs and answered %.3fs after zone %s was cut off from the meta group at %.3fs; its lease ran out by %.3fs",
					in.F, ack.Status, ack.Created, ack.LogIndex, w.Zone, secs(sent-w.Start), secs(ack.Time-w.Start), w.Zone, secs(w.Start), secs(expiry))})
		}
	}
	return r
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }
