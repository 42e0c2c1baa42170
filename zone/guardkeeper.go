package zone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/internal/inject"
)

// Guard marks in the write path (docs/DESIGN.md, Failover). Before a write to
// an account commits in this zone, the zone's leader has the account marked
// in the backup zone's own Raft group; once the backup's replicas of this
// zone have applied past the account's last write, the mark is cleared. So
// every account with a committed write the backup lacks is marked, and on
// failover the marks are the blacklist. Guard (guard.go) keeps the per-term
// bookkeeping; the GuardKeeper carries marks and clears to the backup zone
// (marker.go); the server keeps the endpoints that receive them.

// GuardHolder is a zone leader's guard for its current term. Its zero value
// is ready; each hosted zone replica has one (Group.Guard).
type GuardHolder struct {
	mu    sync.Mutex
	g     *Guard
	term  uint64
	start uint64 // last log index when the term's guard began
	swept bool   // earlier terms' marks have been swept
	since time.Time
	mark  marker
}

// GuardMetrics are the guard keeper's series (the node registers them).
type GuardMetrics struct {
	Marks       prometheus.Counter  // marks recorded in the backup zone
	Clears      prometheus.Counter  // marks cleared in the backup zone
	Live        prometheus.Gauge    // accounts held marked
	MarkSeconds prometheus.Observer // a write's wait for its marks
}

// GuardKeeper keeps a node's own zone's guard marks in the backup zone:
// Begin in the write path, Tick on the guard loop.
type GuardKeeper struct {
	host    Host
	cfg     DriverConfig
	log     *slog.Logger
	metrics GuardMetrics
}

// NewGuardKeeper makes the guard keeper of host.
func NewGuardKeeper(host Host, cfg DriverConfig, m GuardMetrics) *GuardKeeper {
	return &GuardKeeper{host: host, cfg: cfg, log: cfg.Logger, metrics: m}
}

// guardFor returns the guard of h's current term when h's writes must be
// guarded: h is this node's own zone, it leads it, the zone has a backup and
// may still write: normal, reconciling, or failing over. Failing over, a
// lease renewed just before the command still lets the zone commit for up
// to its duration, and the failover reads its blacklist only once that
// lease has ended; so the zone marks on, in the backup zone's own group,
// until then. Failed over, it holds no lease and writes nothing. Else nil.
func (k *GuardKeeper) guardFor(h Group) *GuardHolder {
	if !k.host.Clustered() || h.Store() || h != k.host.OwnZone() || inject.On(inject.DropGuardMark) {
		return nil
	}
	backup, phase, backupPhase, _, ok := k.host.Meta().ZoneBrief(h.Name())
	if !ok || backup == "" || backup == h.Name() {
		return nil
	}
	if phase == fsm.PhaseFailover || (phase == fsm.PhaseFailingOver && inject.On(inject.UnmarkedFailingOver)) {
		return nil
	}
	gh := h.Guard()
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if backupPhase != fsm.PhaseNormal {
		// The backup zone is failed over: marks have nowhere to go, and
		// this zone cannot fail over there meanwhile. Writes go on
		// unmarked; when the backup is reconciled, the meta group sets
		// this zone's guard gap, which closeGuardGap closes.
		gh.g = nil
		return nil
	}
	rf := h.Replica().Raft()
	term := rf.CurrentTerm()
	if gh.g == nil || gh.term != term {
		gh.g = NewGuard(term, nil, rf.LastIndex())
		gh.term, gh.start, gh.swept, gh.since = term, rf.LastIndex(), false, time.Now()
	}
	if gh.mark.k == nil || gh.mark.backup != backup {
		// Only when it changes: writes and the guard loop read the
		// marker's target without gh.mu, so rewriting the same values on
		// every new term was a data race.
		gh.mark.k, gh.mark.zone, gh.mark.backup = k, h.Name(), backup
	}
	return gh
}

// guardUsers lists the accounts cmds write to, in order, once each. A
// delivery mark (CmdNotifyDelivered) counts: it changes the account's
// replicated outbox. Left unmarked, a lost mark would cost no money, only a
// repeated delivery under the same key, but one rule for every write keeps
// the guard invariant without exceptions.
func guardUsers(cmds []fsm.Command) []uint64 {
	var out []uint64
	for i := range cmds {
		c := &cmds[i]
		switch c.Type {
		case fsm.CmdPay, fsm.CmdRepay, fsm.CmdPutAccount, fsm.CmdNotify:
			out = append(out, c.User)
		case fsm.CmdPost:
			for _, p := range c.Posts {
				out = append(out, p.User)
			}
		case fsm.CmdNotifyDelivered:
			for _, nr := range c.Notes {
				out = append(out, nr.User)
			}
		case fsm.CmdIngest, fsm.CmdMerge:
			for _, r := range c.Records {
				if u, ok := fsm.RecordUser(r.Bucket, r.Key); ok {
					out = append(out, u)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Begin marks the accounts of cmds in the backup zone, where needed,
// before they are proposed in h's group. The returned func ends the writes
// with the log index the entry got (0: it never reached the log;
// MaxUint64: unknown).
func (k *GuardKeeper) Begin(ctx context.Context, h Group, cmds []fsm.Command) (func(index uint64), error) {
	gh := k.guardFor(h)
	users := guardUsers(cmds)
	if gh == nil || len(users) == 0 {
		return func(uint64) {}, nil
	}
	gh.mu.Lock()
	g, term := gh.g, gh.term
	gh.mu.Unlock()
	if g == nil {
		// Another write's guardFor dropped the guard since (the backup
		// zone failed over): writes go unmarked, as guardFor says.
		return func(uint64) {}, nil
	}
	var need []MarkReq
	for _, u := range users {
		if m := g.Begin(u); m != nil {
			need = append(need, *m)
		}
	}
	end := func(index uint64) {
		for _, u := range users {
			g.End(u, index)
		}
	}
	if len(need) > 0 {
		start := time.Now()
		err := gh.mark.mark(ctx, need)
		k.metrics.MarkSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			end(0)
			return nil, api.Errorf(api.CodeUnavailable, "backup zone %s did not record the guard mark the write needs (%v); not applied, retry", gh.mark.backup, err)
		}
		for _, m := range need {
			g.Marked(m)
		}
		k.metrics.Marks.Add(float64(len(need)))
	}
	if h.Replica().Raft().CurrentTerm() != term {
		end(0)
		return nil, fmt.Errorf("%w: term changed while marking", ErrNotLeader)
	}
	if len(need) > 0 && fenced(cmds) && !LeaseValid(k.host, h) {
		// The marks are committed, but perhaps only after the lease
		// ended, and so after a failover read its blacklist: a write
		// proposed now could commit unlisted. Proposed only while the
		// lease still holds, every write's mark is committed before the
		// lease's end, which the failover waits out before reading.
		end(0)
		return nil, api.Errorf(api.CodeLeaseExpired, "zone %s's ownership lease ended while the write's guard marks were recorded; not applied, retry", h.Name())
	}
	return end, nil
}

// Apply proposes cmds as one log entry in h's group and waits for their
// results, their accounts marked in the backup zone first (Begin, bounded
// by timeout as the proposal is). It stamps the time and refuses, before
// anything is marked or proposed, what the state machine would refuse as
// malformed. observe, if not nil, gets the outcome and the time from the
// marks to the result of a proposal that was made. Errors wrap
// ErrNotLeader, ErrNotApplied or ErrUnknownOutcome.
func (k *GuardKeeper) Apply(h *Hosted, timeout time.Duration, observe func(error, time.Duration), cmds ...fsm.Command) ([]fsm.Result, error) {
	now := clock.Now().UnixMilli()
	for i := range cmds {
		cmds[i].Time = now
		if err := cmds[i].Validate(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	end, err := k.Begin(ctx, h, cmds)
	cancel()
	if err != nil {
		return nil, err
	}
	res, index, err := h.Replica().ApplyCommands(cmds, timeout)
	switch {
	case err == nil:
		end(index)
	case errors.Is(err, ErrNotApplied) || errors.Is(err, ErrNotLeader):
		end(0)
	default:
		end(math.MaxUint64) // it may yet commit: its mark stays for this term
	}
	if observe != nil {
		observe(err, time.Since(start))
	}
	return res, err
}

// fenced reports whether cmds are writes the zone makes under its ownership
// lease. Shard imports and reconciliation merges are not: they write shards
// the zone does not own yet, while the meta group keeps the zone from
// failing over (a merge runs while it holds no lease at all).
func fenced(cmds []fsm.Command) bool {
	for i := range cmds {
		if t := cmds[i].Type; t != fsm.CmdIngest && t != fsm.CmdMerge {
			return true
		}
	}
	return false
}

// Tick clears, on the own zone's leader, the marks the backup zone's
// replicas have applied past (the node's guard loop calls it every
// GuardClearInterval).
func (k *GuardKeeper) Tick() {
	h := k.host.OwnZone()
	if h == nil || !h.Replica().IsLeader() {
		return
	}
	if gh := k.guardFor(h); gh != nil {
		k.clearMarks(h, gh)
		k.closeGuardGap(h, gh)
	}
}

// closeGuardGap, once the zone's guard has been active for ApplyTimeout
// (so every write proposed unmarked before has its log index), raises the
// clear watermark in the backup zone to the zone's last index: a promotion
// then needs a replica that has applied every unmarked write. Then it tells
// the meta group the gap is closed, and the zone may be failed over again.
func (k *GuardKeeper) closeGuardGap(h Group, gh *GuardHolder) {
	_, _, _, gap, _ := k.host.Meta().ZoneBrief(h.Name())
	gh.mu.Lock()
	since := gh.since
	gh.mu.Unlock()
	if !gap || time.Since(since) < k.cfg.ApplyTimeout {
		return
	}
	last := h.Replica().Raft().LastIndex()
	if err := k.sendMarks(gh.mark.backup, MarksRequest{Zone: h.Name(), Clear: true, Watermark: last}); err != nil {
		k.log.Debug("guard gap", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.cfg.ApplyTimeout)
	defer cancel()
	if res, err := k.host.MetaApply(ctx, fsm.MetaCmd{Type: fsm.MetaGuardReady, Zone: h.Name()}); err != nil || res.Err != "" {
		k.log.Debug("guard gap", "err", err, "refused", res.Err)
		return
	}
	k.log.Info("guard marks re-established after the backup zone's failover", "zone", h.Name(), "backup", gh.mark.backup, "watermark", last)
}

// clearMarks asks the backup zone's nodes how far their replicas of the
// zone have applied and clears what that allows. Only replicas that answer
// count: a promotion later starts only from a replica that has applied as
// far as the clears rested on (the watermark), so a silent replica cannot
// be promoted behind a cleared mark.
func (k *GuardKeeper) clearMarks(h Group, gh *GuardHolder) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	applied, ok := k.backupApplied(ctx, gh.mark.backup, h.Name())
	if !ok {
		return
	}
	gh.mu.Lock()
	g, term, sweep := gh.g, gh.term, uint64(0)
	if !gh.swept && applied >= gh.start {
		sweep = term
	}
	gh.mu.Unlock()
	if g == nil {
		// A write's guardFor dropped the guard meanwhile (the backup zone
		// failed over while its replicas were asked): nothing to clear.
		return
	}
	k.metrics.Live.Set(float64(g.MarkedCount()))
	clears := g.Clearable(applied)
	if len(clears) == 0 && sweep == 0 {
		return
	}
	req := MarksRequest{Zone: h.Name(), Clear: true, Watermark: applied, Sweep: sweep}
	for _, c := range clears {
		req.Marks = append(req.Marks, fsm.Mark{User: c.User, Term: c.Term, Seq: c.Seq})
	}
	if err := k.sendMarks(gh.mark.backup, req); err != nil {
		// The cleared accounts stay marked in the backup: safe, they
		// only stay on a blacklist longer.
		k.log.Debug("guard clear", "err", err)
		return
	}
	k.metrics.Clears.Add(float64(len(clears)))
	if sweep != 0 {
		gh.mu.Lock()
		if gh.term == term {
			gh.swept = true
		}
		gh.mu.Unlock()
	}
}

// backupApplied returns the lowest applied index of zone's async followers
// on backup's nodes that answer, and whether any answered.
func (k *GuardKeeper) backupApplied(ctx context.Context, backup, z string) (uint64, bool) {
	low, any := uint64(math.MaxUint64), false
	for node, reps := range ReplicasOf(ctx, k.host, backup) {
		_ = node
		for _, rs := range reps {
			if rs.Group == "zone/"+z {
				low, any = min(low, rs.AppliedIndex), true
			}
		}
	}
	return low, any
}

// ReplicasOf is what the nodes of zone z report of their replicas (Host's
// AskReplicas limited to the nodes of z).
func ReplicasOf(ctx context.Context, host Host, z string) map[string][]api.ReplicaState {
	st := host.Meta().State()
	var nodes []fsm.NodeInfo
	for _, nd := range st.Nodes {
		if nd.Zone == z {
			nodes = append(nodes, nd)
		}
	}
	return host.AskReplicas(ctx, nodes)
}
