package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/inject"
	"github.com/rzonedb/rzone/zone"
)

// Guard marks in the write path (docs/DESIGN.md, Failover). Before a write to
// an account commits in this zone, the zone's leader has the account marked
// in the backup zone's own Raft group; once the backup's replicas of this
// zone have applied past the account's last write, the mark is cleared. So
// every account with a committed write the backup lacks is marked, and on
// failover the marks are the blacklist. zone.Guard keeps the per-term
// bookkeeping; this file carries marks and clears to the backup zone.

// guardHolder is a zone leader's guard for its current term.
type guardHolder struct {
	mu    sync.Mutex
	g     *zone.Guard
	term  uint64
	start uint64 // last log index when the term's guard began
	swept bool   // earlier terms' marks have been swept
	since time.Time
	mark  marker
}

// marksRequest is the body of POST /v1/internal/marks: set (or, with
// Clear, clear) guard marks of Zone in this node's zone.
type marksRequest struct {
	Zone      string     `json:"zone"`
	Marks     []fsm.Mark `json:"marks"`
	Clear     bool       `json:"clear,omitempty"`
	Watermark uint64     `json:"watermark,omitempty"`
	Sweep     uint64     `json:"sweep,omitempty"` // with Clear: also clear marks of terms below
}

// guardInfo is the body of GET /v1/internal/guard: the marks of a zone held
// in this (its backup) zone, read on the backup zone's leader.
type guardInfo struct {
	Zone      string   `json:"zone"`
	Marks     []uint64 `json:"marks"`
	Watermark uint64   `json:"watermark"`
}

// guardFor returns the guard of h's current term when h's writes must be
// guarded: h is this node's own zone, it leads it, the zone has a backup and
// may still write: normal, reconciling, or failing over. Failing over, a
// lease renewed just before the command still lets the zone commit for up
// to its duration, and the failover reads its blacklist only once that
// lease has ended; so the zone marks on, in the backup zone's own group,
// until then. Failed over, it holds no lease and writes nothing. Else nil.
func (n *Node) guardFor(h *hosted) *guardHolder {
	if !n.clustered || h.store || h != n.ownZone() || inject.On(inject.DropGuardMark) {
		return nil
	}
	backup, phase, backupPhase, _, ok := n.metaFSM.ZoneBrief(h.zone)
	if !ok || backup == "" || backup == h.zone {
		return nil
	}
	if phase == fsm.PhaseFailover || (phase == fsm.PhaseFailingOver && inject.On(inject.UnmarkedFailingOver)) {
		return nil
	}
	gh := &h.guard
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
	rf := h.rep.Raft()
	term := rf.CurrentTerm()
	if gh.g == nil || gh.term != term {
		gh.g = zone.NewGuard(term, nil, rf.LastIndex())
		gh.term, gh.start, gh.swept, gh.since = term, rf.LastIndex(), false, time.Now()
	}
	if gh.mark.n == nil || gh.mark.backup != backup {
		// Only when it changes: writes and the guard loop read the
		// marker's target without gh.mu, so rewriting the same values on
		// every new term was a data race.
		gh.mark.n, gh.mark.zone, gh.mark.backup = n, h.zone, backup
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

// guardBegin marks the accounts of cmds in the backup zone, where needed,
// before they are proposed. The returned func ends the writes with the log
// index the entry got (0: it never reached the log; MaxUint64: unknown).
func (n *Node) guardBegin(ctx context.Context, h *hosted, cmds []fsm.Command) (func(index uint64), error) {
	gh := n.guardFor(h)
	users := guardUsers(cmds)
	if gh == nil || len(users) == 0 {
		return func(uint64) {}, nil
	}
	gh.mu.Lock()
	g, term := gh.g, gh.term
	gh.mu.Unlock()
	var need []zone.MarkReq
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
		n.metrics.guardMarkSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			end(0)
			return nil, api.Errorf(api.CodeUnavailable, "backup zone %s did not record the guard mark the write needs (%v); not applied, retry", gh.mark.backup, err)
		}
		for _, m := range need {
			g.Marked(m)
		}
		n.metrics.guardMarks.Add(float64(len(need)))
	}
	if h.rep.Raft().CurrentTerm() != term {
		end(0)
		return nil, fmt.Errorf("%w: term changed while marking", ErrNotLeader)
	}
	if len(need) > 0 && fenced(cmds) && !n.leaseValid(h) {
		// The marks are committed, but perhaps only after the lease
		// ended, and so after a failover read its blacklist: a write
		// proposed now could commit unlisted. Proposed only while the
		// lease still holds, every write's mark is committed before the
		// lease's end, which the failover waits out before reading.
		end(0)
		return nil, api.Errorf(api.CodeLeaseExpired, "zone %s's ownership lease ended while the write's guard marks were recorded; not applied, retry", h.zone)
	}
	return end, nil
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

// testMarkDelay, when set (tests), delays every guard marks request.
var testMarkDelay atomic.Pointer[time.Duration]

// marker sends a zone leader's guard marks to the backup zone's leader,
// batching the marks of concurrent writes into one request and one entry.
type marker struct {
	n            *Node
	zone, backup string

	mu      sync.Mutex
	busy    bool
	pending []fsm.Mark
	waiters []chan error
}

func (m *marker) mark(ctx context.Context, reqs []zone.MarkReq) error {
	ch := make(chan error, 1)
	m.mu.Lock()
	for _, r := range reqs {
		m.pending = append(m.pending, fsm.Mark{User: r.User, Term: r.Term, Seq: r.Seq})
	}
	m.waiters = append(m.waiters, ch)
	if !m.busy {
		m.busy = true
		go m.flush()
	}
	m.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *marker) flush() {
	for {
		m.mu.Lock()
		marks, waiters := m.pending, m.waiters
		m.pending, m.waiters = nil, nil
		if len(waiters) == 0 {
			m.busy = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		if d := testMarkDelay.Load(); d != nil {
			time.Sleep(*d)
		}
		err := m.n.sendMarks(m.backup, marksRequest{Zone: m.zone, Marks: marks})
		for _, w := range waiters {
			w <- err
		}
	}
}

// sendMarks delivers a marks request to backup's leader, retrying briefly
// while it has none.
func (n *Node) sendMarks(backup string, req marksRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	return n.retryZone(ctx, backup, func(addr string) error {
		return n.postJSON(ctx, addr, "/v1/internal/marks", req, nil)
	})
}

// handleInternalMarks sets or clears guard marks of another zone in this
// node's zone, which it must lead. Without authentication (see
// checkMarks) it takes only what the marked zone's leader could send.
func (n *Node) handleInternalMarks(w http.ResponseWriter, r *http.Request) {
	var req marksRequest
	if err := decodeLarge(r, &req); err != nil {
		writeError(w, err)
		return
	}
	c := fsm.Command{Type: fsm.CmdMark, NodeID: req.Zone, Marks: req.Marks}
	if req.Clear {
		c = fsm.Command{Type: fsm.CmdGuardClear, NodeID: req.Zone, Marks: req.Marks, Epoch: req.Watermark, Term: req.Sweep}
	}
	if err := c.Validate(); err != nil {
		writeError(w, apiError(err))
		return
	}
	h := n.ownZone()
	if h == nil || !h.rep.IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead its zone", n.cfg.NodeID))
		return
	}
	if aerr := n.checkMarks(h, req); aerr != nil {
		writeError(w, aerr)
		return
	}
	if _, err := n.apply(h, c); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"marks": len(req.Marks)})
}

// checkMarks refuses a marks request the marked zone's leader would not
// send, as far as this node can tell from its own async follower of that
// zone: the zone must be backed up here; no mark, clear or sweep may name
// a term the zone has not reached (marks are taken unchecked while the
// follower here is closed: they only make a failover more careful); a clear of marks (or a sweep) may rest
// only on a watermark the follower here has applied, and a bare watermark
// raise may not pass the zone's log. Which (term, seq) a mark really has
// cannot be checked here: only authentication of the caller closes that.
func (n *Node) checkMarks(h *hosted, req marksRequest) *api.Error {
	if !n.clustered {
		return api.Errorf(api.CodeInvalidArgument, "a standalone zone backs up no zone")
	}
	if z, ok := n.metaFSM.State().ZoneOf(req.Zone); !ok || z.Backup != h.zone || z.Name == h.zone {
		return api.Errorf(api.CodeInvalidArgument, "zone %s does not back up zone %q", h.zone, req.Zone)
	}
	f := n.hostedZone(req.Zone)
	if f == nil || f.voter {
		if !req.Clear {
			return nil // a mark only makes a failover more careful: take it unchecked
		}
		return api.Errorf(api.CodeUnavailable, "node %s holds no replica of zone %s now; retry", n.cfg.NodeID, req.Zone)
	}
	term := f.rep.Raft().CurrentTerm()
	for _, m := range req.Marks {
		if m.Term > term {
			return api.Errorf(api.CodeInvalidArgument, "mark of user %d names term %d; zone %s is at term %d", m.User, m.Term, req.Zone, term)
		}
	}
	if !req.Clear {
		return nil
	}
	if req.Sweep > term {
		return api.Errorf(api.CodeInvalidArgument, "sweep below term %d; zone %s is at term %d", req.Sweep, req.Zone, term)
	}
	if len(req.Marks) > 0 || req.Sweep > 0 {
		if applied := f.fsm.AppliedIndex(); req.Watermark > applied {
			return api.Errorf(api.CodeInvalidArgument, "clear rests on index %d; this replica of zone %s has applied %d", req.Watermark, req.Zone, applied)
		}
	} else if last := f.rep.Raft().LastIndex(); req.Watermark > last {
		return api.Errorf(api.CodeUnavailable, "watermark %d is past the end of zone %s's log here (%d); retry", req.Watermark, req.Zone, last)
	}
	return nil
}

// handleInternalGuard returns the marks of ?zone= held in this node's zone
// and the clear watermark, after a linearizable read on its leader.
func (n *Node) handleInternalGuard(w http.ResponseWriter, r *http.Request) {
	z := r.URL.Query().Get("zone")
	h := n.ownZone()
	if h == nil || !h.rep.IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead its zone", n.cfg.NodeID))
		return
	}
	if err := h.rep.Linearizable(r.Context(), n.cfg.ReadTimeout); err != nil {
		writeError(w, apiError(err))
		return
	}
	marks, err := h.fsm.Marks(z)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if marks == nil {
		marks = []uint64{}
	}
	writeJSON(w, http.StatusOK, guardInfo{Zone: z, Marks: marks, Watermark: h.fsm.GuardWatermark(z)})
}

// guardLoop clears, on the own zone's leader, the marks the backup zone's
// replicas have applied past.
func (n *Node) guardLoop() { n.every(n.cfg.GuardClearInterval, n.guardTick) }

func (n *Node) guardTick() {
	h := n.ownZone()
	if h == nil || !h.rep.IsLeader() {
		return
	}
	if gh := n.guardFor(h); gh != nil {
		n.clearMarks(h, gh)
		n.closeGuardGap(h, gh)
	}
}

// closeGuardGap, once the zone's guard has been active for ApplyTimeout
// (so every write proposed unmarked before has its log index), raises the
// clear watermark in the backup zone to the zone's last index: a promotion
// then needs a replica that has applied every unmarked write. Then it tells
// the meta group the gap is closed, and the zone may be failed over again.
func (n *Node) closeGuardGap(h *hosted, gh *guardHolder) {
	_, _, _, gap, _ := n.metaFSM.ZoneBrief(h.zone)
	gh.mu.Lock()
	since := gh.since
	gh.mu.Unlock()
	if !gap || time.Since(since) < n.cfg.ApplyTimeout {
		return
	}
	last := h.rep.Raft().LastIndex()
	if err := n.sendMarks(gh.mark.backup, marksRequest{Zone: h.zone, Clear: true, Watermark: last}); err != nil {
		n.log.Debug("guard gap", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	if res, err := n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaGuardReady, Zone: h.zone}); err != nil || res.Err != "" {
		n.log.Debug("guard gap", "err", err, "refused", res.Err)
		return
	}
	n.log.Info("guard marks re-established after the backup zone's failover", "zone", h.zone, "backup", gh.mark.backup, "watermark", last)
}

// clearMarks asks the backup zone's nodes how far their replicas of the
// zone have applied and clears what that allows. Only replicas that answer
// count: a promotion later starts only from a replica that has applied as
// far as the clears rested on (the watermark), so a silent replica cannot
// be promoted behind a cleared mark.
func (n *Node) clearMarks(h *hosted, gh *guardHolder) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	applied, ok := n.backupApplied(ctx, gh.mark.backup, h.zone)
	if !ok {
		return
	}
	n.metrics.guardLive.Set(float64(gh.g.MarkedCount()))
	gh.mu.Lock()
	g, term, sweep := gh.g, gh.term, uint64(0)
	if !gh.swept && applied >= gh.start {
		sweep = term
	}
	gh.mu.Unlock()
	clears := g.Clearable(applied)
	if len(clears) == 0 && sweep == 0 {
		return
	}
	req := marksRequest{Zone: h.zone, Clear: true, Watermark: applied, Sweep: sweep}
	for _, c := range clears {
		req.Marks = append(req.Marks, fsm.Mark{User: c.User, Term: c.Term, Seq: c.Seq})
	}
	if err := n.sendMarks(gh.mark.backup, req); err != nil {
		// The cleared accounts stay marked in the backup: safe, they
		// only stay on a blacklist longer.
		n.log.Debug("guard clear", "err", err)
		return
	}
	n.metrics.guardClears.Add(float64(len(clears)))
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
func (n *Node) backupApplied(ctx context.Context, backup, z string) (uint64, bool) {
	low, any := uint64(math.MaxUint64), false
	for node, reps := range n.gatherReplicasOf(ctx, backup) {
		_ = node
		for _, rs := range reps {
			if rs.Group == "zone/"+z {
				low, any = min(low, rs.AppliedIndex), true
			}
		}
	}
	return low, any
}

// gatherReplicasOf is gatherReplicas limited to the nodes of zone z.
func (n *Node) gatherReplicasOf(ctx context.Context, z string) map[string][]api.ReplicaState {
	st := n.metaFSM.State()
	var nodes []fsm.NodeInfo
	for _, nd := range st.Nodes {
		if nd.Zone == z {
			nodes = append(nodes, nd)
		}
	}
	return n.askReplicas(ctx, nodes)
}
