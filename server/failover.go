package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/zone"
)

// Zone failover and reconciliation (docs/DESIGN.md, Failover).
//
// Every step is a state of the meta group, so whichever node leads it
// drives the steps, and a driver that dies is replaced by the next meta
// leader, which picks up where the meta state stands:
//
//   - failing_over: once the zone's last lease has ended, the driver reads
//     the zone's guard marks from its backup zone's leader (the blacklist)
//     and picks the backup node whose async follower has applied the most
//     (at least as far as any mark clear rested on), then MetaPromote
//     routes the zone's shards to a new failover group under a new epoch.
//   - failover: the seed node promotes its follower into the group
//     (zone.Promote), its leader writes the blacklist and stand-in limit
//     (CmdFailover), adds the other backup nodes as voters, takes the shards
//     and serves the zone's users. The zone's own nodes get no lease.
//   - reconciling: the store releases the shards; the driver merges them
//     into the zone shard by shard (CmdMerge, idempotent per shard), then
//     MetaFinishRecover routes them back; the backup nodes retire the store.

// Config keys of failover.
const (
	// ConfigAutoFailover, a duration ("500ms"), makes the meta leader fail
	// a zone over once its lease has been expired that long and none of
	// its nodes answers the meta leader (a zone cut off from the meta
	// group's quorum but alive only stops writing). Unset or "0": only by
	// command.
	ConfigAutoFailover = "failover.auto_after"
	// ConfigStandinPercent is the stand-in limit of failover stores, in
	// percent of a user's credit line (default fsm.DefaultStandinPercent).
	ConfigStandinPercent = "failover.standin_pct"
)

// leaseMargin is how much longer than a zone's last lease grant lasts the
// driver waits, from when its node saw the grant by its own monotonic
// clock, before moving the zone's shards (zone.LeaseKeeper.Wait). The
// holder already counts 5% short, which covers clock rates apart by that
// much.
const leaseMargin = 100 * time.Millisecond

// storeFirstElection and storeElection bound the heartbeat and election
// timeouts of failover store groups: at first (every moment until the
// store's first leader serves is a moment without payments for the zone's
// users), and once the store serves.
const (
	storeFirstElection = 150 * time.Millisecond
	storeElection      = 400 * time.Millisecond
)

// storeMarker is a file in a failover store's group directory, so that a
// restarted node reopens the group as a voter.
const storeMarker = "failover-store"

// driverSet runs at most one driver per zone at a time.
type driverSet struct {
	mu      sync.Mutex
	running map[string]bool
}

func (d *driverSet) start(z string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running == nil {
		d.running = map[string]bool{}
	}
	if d.running[z] {
		return false
	}
	d.running[z] = true
	return true
}

func (d *driverSet) done(z string) {
	d.mu.Lock()
	delete(d.running, z)
	d.mu.Unlock()
}

// failoverLoop drives, on the meta leader, automatic failovers and the
// steps of failovers and reconciliations under way.
func (n *Node) failoverLoop() { n.every(n.cfg.FailoverTick, n.failoverTick) }

func (n *Node) failoverTick() {
	st := n.metaFSM.State()
	if !st.Initialized {
		return
	}
	n.exportPhases(st)
	if n.storeWork(st) {
		if err := n.convergeStores(st); err != nil {
			n.log.Debug("failover store", "err", err)
		}
	}
	if !n.meta.IsLeader() {
		return
	}
	n.autoFailover(st)
	for _, z := range st.Zones {
		var step func(context.Context, string) error
		kind := fsm.OpFailover
		switch z.PhaseOf() {
		case fsm.PhaseFailingOver:
			step = n.promoteStep
		case fsm.PhaseReconciling:
			step, kind = n.reconcileStep, fsm.OpRecover
		default:
			continue
		}
		if !n.drivers.start(z.Name) {
			continue
		}
		n.wg.Add(1)
		go func(name string) {
			defer n.wg.Done()
			defer n.drivers.done(name)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			go func() {
				select {
				case <-n.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := step(ctx, name); err != nil {
				n.log.Warn("failover step", "zone", name, "err", err)
				// Shown on the operation; the next round retries.
				if o, ok := n.metaFSM.State().ActiveOp(kind, name); ok && ctx.Err() == nil {
					n.noteOp(ctx, o.ID, o.Phase, o.Progress, o.Detail, err)
				}
			}
		}(z.Name)
	}
}

func (n *Node) exportPhases(st fsm.MetaState) {
	for _, z := range st.Zones {
		for _, p := range []string{fsm.PhaseNormal, fsm.PhaseFailingOver, fsm.PhaseFailover, fsm.PhaseReconciling} {
			v := 0.0
			if z.ShownPhase() == p {
				v = 1
			}
			n.metrics.failoverPhase.WithLabelValues(z.Name, p).Set(v)
		}
	}
}

// autoFailover starts the failover of every zone whose lease has been
// expired for the configured time.
func (n *Node) autoFailover(st fsm.MetaState) {
	it, ok := st.ConfigValue(ConfigAutoFailover)
	if !ok || it.Value == "" {
		return
	}
	after, err := time.ParseDuration(it.Value)
	if err != nil || after <= 0 {
		return
	}
	now := clock.Now().UnixMilli()
	for _, z := range st.Zones {
		if z.PhaseOf() != fsm.PhaseNormal || z.Backup == "" || z.Backup == z.Name {
			continue
		}
		l, ok := st.Lease(z.Name)
		if !ok || l.Until == 0 || now <= l.Until+after.Milliseconds() {
			continue
		}
		if b, _ := st.ZoneOf(z.Backup); b.PhaseOf() != fsm.PhaseNormal {
			continue
		}
		if n.zoneAlive(st, z.Name) {
			// Its lease lapsed but a node of it answers: cut off from
			// the meta group's quorum, or its renewals failed while the
			// meta group changed leader, rather than lost. It stops
			// writing on its own (the lease fence) until it renews;
			// failing it over is the operator's call.
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
		res, err := n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaFailover, Zone: z.Name, Auto: true, OpID: newOpID()})
		cancel()
		if err == nil && res.Err == "" {
			n.log.Warn("zone lease expired: automatic failover", "zone", z.Name, "lease_until", l.Until, "after", after)
		}
	}
}

// zoneAlive reports whether any node of zone z answers on its API now
// (any reply counts; a refused or timed-out connection does not).
func (n *Node) zoneAlive(st fsm.MetaState, z string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	answered := make(chan bool, len(st.Nodes))
	asked := 0
	for _, nd := range st.Nodes {
		if nd.Zone != z {
			continue
		}
		asked++
		go func(addr string) {
			req, _ := n.peer.NewRequest(ctx, http.MethodGet, addr, "/healthz", nil)
			resp, err := n.peer.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			answered <- err == nil
		}(nd.HTTPAddr)
	}
	for i := 0; i < asked; i++ {
		if <-answered {
			return true
		}
	}
	return false
}

// promoteStep routes a failing zone's shards to a failover store once the
// zone's lease has ended.
func (n *Node) promoteStep(ctx context.Context, z string) error {
	for {
		st := n.metaFSM.State()
		zi, _ := st.ZoneOf(z)
		if zi.PhaseOf() != fsm.PhaseFailingOver {
			return nil
		}
		op, _ := st.ActiveOp(fsm.OpFailover, z)
		l, _ := st.Lease(z)
		wait := n.leases.Wait(l, leaseMargin)
		if wait > 0 {
			n.noteOp(ctx, op.ID, "waiting_lease", 20, "waiting for the zone's last lease to end (it cannot commit after that)", nil)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(wait, time.Second)):
			}
			continue
		}
		n.noteOp(ctx, op.ID, "reading_guard", 40, "reading the zone's guard marks in "+zi.Backup, nil)
		var gi zone.GuardInfo
		if err := n.retryZone(ctx, zi.Backup, func(addr string) error {
			return n.getJSONFrom(ctx, addr, "/v1/internal/guard?zone="+z, &gi)
		}); err != nil {
			return fmt.Errorf("read the guard marks of %s in %s: %w", z, zi.Backup, err)
		}
		seed, applied := "", uint64(0)
		for node, reps := range zone.ReplicasOf(ctx, zoneHost{n}, zi.Backup) {
			for _, rs := range reps {
				if rs.Group == "zone/"+z && rs.AppliedIndex >= gi.Watermark && (seed == "" || rs.AppliedIndex > applied || (rs.AppliedIndex == applied && node < seed)) {
					seed, applied = node, rs.AppliedIndex
				}
			}
		}
		if seed == "" {
			n.log.Warn("no replica of the zone in its backup has applied as far as its guard clears; waiting", "zone", z, "backup", zi.Backup, "watermark", gi.Watermark)
			n.noteOp(ctx, op.ID, "waiting_replica", 50, fmt.Sprintf("waiting for a replica of %s in %s to apply up to index %d", z, zi.Backup, gi.Watermark), nil)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		group := fmt.Sprintf("%s-f%d", z, st.Epoch+1)
		n.noteOp(ctx, op.ID, "promoting", 70, fmt.Sprintf("routing the shards to failover store %s seeded by %s (%d accounts blacklisted)", group, seed, len(gi.Marks)), nil)
		res, err := n.metaApplyIdempotent(ctx, fsm.MetaCmd{Type: fsm.MetaPromote, Zone: z, Group: group, Seed: seed, Blacklist: gi.Marks, LeaseGrants: &l.Grants})
		if err != nil {
			return err
		}
		if res.Err != "" {
			return errors.New(res.Err)
		}
		n.log.Warn("zone failed over", "zone", z, "store", group, "seed", seed, "seed_applied", applied,
			"blacklist", len(gi.Marks), "watermark", gi.Watermark)
		return nil
	}
}

// testReconcileStop, when set (tests), is asked after each merged shard
// whether to stop the reconciliation there, as if its driver had crashed.
var testReconcileStop atomic.Pointer[func(merged int) bool]

// reconcileStep merges a failover store back into its zone and routes the
// shards home. Each shard's merge is idempotent, so a run cut short is
// finished by the next.
func (n *Node) reconcileStep(ctx context.Context, z string) error {
	st := n.metaFSM.State()
	zi, _ := st.ZoneOf(z)
	if zi.PhaseOf() != fsm.PhaseReconciling || zi.Failover == nil {
		return nil
	}
	group := zi.Failover.Group
	var shards []int
	for s, r := range st.Shards {
		if r.Zone == group {
			shards = append(shards, s)
		}
	}
	// Shards merge in parallel (their entries share the zone's appends);
	// the report sums them in shard order.
	reports := make([]fsm.MergeReport, len(shards))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	op, _ := st.ActiveOp(fsm.OpRecover, z)
	progress := func(merged int) {
		n.noteOp(ctx, op.ID, "merging", 5+90*merged/max(len(shards), 1), fmt.Sprintf("%d of %d shards of %s merged into %s", merged, len(shards), group, z), nil)
	}
	progress(0)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		first  error
		merged atomic.Int64
		next   atomic.Int64
	)
	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	progressWG.Add(1)
	go func() {
		defer progressWG.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-t.C:
				progress(int(merged.Load()))
			}
		}
	}()
	for w := 0; w < reconcileWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(shards) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				err := n.mergeShard(ctx, z, group, shards[i], st.Shards[shards[i]].Epoch, &reports[i])
				if err == nil {
					m := int(merged.Add(1))
					if stop := testReconcileStop.Load(); stop != nil && (*stop)(m) {
						err = errors.New("reconciliation stopped by the test")
					}
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(progressDone)
	progressWG.Wait()
	if first != nil {
		return first
	}
	rep := &fsm.FailoverReport{}
	for _, mr := range reports {
		rep.Shards++
		rep.Taken += mr.Taken
		rep.Kept += mr.Kept
		rep.Merged += mr.Merged
		rep.Voided = append(rep.Voided, mr.Voided...)
		rep.Contradicted = append(rep.Contradicted, mr.Contradicted...)
		rep.Violations = append(rep.Violations, mr.Violations...)
		rep.Unmerged += len(mr.Unmerged)
	}
	took := time.Since(time.UnixMilli(zi.Failover.Recovering))
	rep.DurationMs = took.Milliseconds()
	res, err := n.metaApplyIdempotent(ctx, fsm.MetaCmd{Type: fsm.MetaFinishRecover, Zone: z, Group: group, Report: rep})
	if err != nil {
		return err
	}
	if res.Err != "" {
		return errors.New(res.Err)
	}
	n.metrics.reconcileSeconds.WithLabelValues(z).Set(took.Seconds())
	n.log.Warn("zone reconciled", "zone", z, "store", group, "shards", rep.Shards, "taken", rep.Taken, "kept", rep.Kept,
		"merged", rep.Merged, "voided", len(rep.Voided), "contradicted", len(rep.Contradicted), "violations", len(rep.Violations), "took", took)
	return nil
}

// reconcileWorkers is how many shards a reconciliation merges at once.
const reconcileWorkers = 4

// mergeShard exports one released shard from the failover store and merges
// it into the zone (idempotent: a shard merged before returns its report).
func (n *Node) mergeShard(ctx context.Context, z, group string, shard int, epoch uint64, out *fsm.MergeReport) error {
	var recs []fsm.Record
	path := fmt.Sprintf("/v1/internal/shards/%d/export?group=%s&epoch=%d", shard, group, epoch)
	if err := n.retryZone(ctx, group, func(addr string) error {
		recs = nil
		return n.getJSONFrom(ctx, addr, path, &recs)
	}); err != nil {
		return fmt.Errorf("export shard %d from %s: %w", shard, group, err)
	}
	if err := n.retryZone(ctx, z, func(addr string) error {
		return n.postJSON(ctx, addr, fmt.Sprintf("/v1/internal/shards/%d/merge?group=%s", shard, group), recs, out)
	}); err != nil {
		return fmt.Errorf("merge shard %d into %s: %w", shard, z, err)
	}
	return nil
}

// storeWork reports whether a failover store of this node's zone is still
// to be opened or set up: then the failover loop does it at once rather
// than at the next reconcile round.
func (n *Node) storeWork(st fsm.MetaState) bool {
	for _, z := range st.Zones {
		if z.Backup != n.cfg.Zone || z.PhaseOf() != fsm.PhaseFailover || z.Failover == nil {
			continue
		}
		h := n.hostedZone(z.Failover.Group)
		if h == nil || (h.rep.IsLeader() && (!h.isReady() || !n.leaseValid(h))) {
			return true
		}
	}
	return false
}

// testHoldStoreSetUp, when set (tests), keeps a store's leader from setting
// the store up (CmdFailover) while it returns true for the store's group.
var testHoldStoreSetUp atomic.Pointer[func(group string) bool]

// convergeStores hosts, promotes, sets up and retires this node's failover
// stores as the meta state says (called from converge on every node).
func (n *Node) convergeStores(st fsm.MetaState) error {
	n.storeMu.Lock()
	defer n.storeMu.Unlock()
	var errs []error
	for _, z := range st.Zones {
		if z.Backup != n.cfg.Zone || z.Failover == nil || z.Failover.Group == "" {
			continue
		}
		if p := z.PhaseOf(); p != fsm.PhaseFailover && p != fsm.PhaseReconciling {
			continue
		}
		h := n.hostedZone(z.Failover.Group)
		if h == nil {
			var err error
			if h, err = n.hostStore(z); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if hold := testHoldStoreSetUp.Load(); h.rep.IsLeader() && (hold == nil || !(*hold)(h.zone)) {
			errs = append(errs, n.setUpStore(h, z, st))
		}
		errs = append(errs, n.settleStore(h))
	}
	for _, h := range n.hostedZones() {
		if _, live := st.StoreOf(h.zone); h.store && !live {
			errs = append(errs, n.retireStore(h))
		}
	}
	return errors.Join(errs...)
}

// hostStore opens this node's member of z's failover store: on the seed,
// its async follower of z promoted into the new group; elsewhere an empty
// member that the store's leader adds as a voter.
func (n *Node) hostStore(z fsm.ZoneInfo) (*hosted, error) {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	group := z.Failover.Group
	if h := n.hostedZone(group); h != nil {
		return h, nil
	}
	dir := groupDir(n.cfg.DataDir, "zone/"+group)
	if _, err := os.Stat(filepath.Join(dir, storeMarker)); err != nil {
		// The group's directory is made whole in a staging directory and
		// renamed into place, so a crash never leaves a half-made store
		// that a restart would open.
		staging := groupDir(n.cfg.DataDir, "staging/"+group)
		if err := os.RemoveAll(staging); err != nil {
			return nil, err
		}
		if z.Failover.Seed == n.cfg.NodeID {
			if err := n.promoteFollower(z.Name, group, staging); err != nil {
				return nil, err
			}
		} else if err := os.MkdirAll(staging, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(staging, storeMarker), []byte(z.Name+"\n"), 0o600); err != nil {
			return nil, err
		}
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if err := os.Rename(staging, dir); err != nil {
			return nil, err
		}
	}
	h, err := n.openZone(group, dir, true)
	if err != nil {
		return nil, err
	}
	n.log.Warn("hosting a failover store", "zone", z.Name, "store", group, "seed", z.Failover.Seed == n.cfg.NodeID)
	n.updateGossip()
	return h, nil
}

// promoteFollower stops this node's async follower of z, promotes a copy of
// it into group's directory as the group's sole voter, and reopens the
// follower (it goes on following z when z returns).
func (n *Node) promoteFollower(z, group, dir string) error {
	f := n.hostedZone(z)
	if f == nil || f.voter {
		return fmt.Errorf("promote %s: this node hosts no async follower of it", z)
	}
	src := groupDir(n.cfg.DataDir, "zone/"+z)
	n.closeZone(f)
	var sm *fsm.FSM
	err := zone.Promote(n.replicaConfig("zone/"+group, dir, nil), src,
		[]raft.Server{{ID: raft.ServerID(n.cfg.NodeID), Address: raft.ServerAddress(n.cfg.raftAdvertise()), Suffrage: raft.Voter}},
		func(path string) (zone.StateMachine, io.Closer, error) {
			var err error
			sm, err = fsm.Open(path, n.log.With("group", "zone/"+group))
			return sm, sm, err
		},
		// Marked after the recovery has replayed the copied log (as the
		// zone, owning its shards) and before its snapshot, which every
		// member of the store starts from: until its CmdFailover, no
		// member serves a shard.
		func() error { return sm.MarkPromoted() })
	if _, oerr := n.openZone(z, src, false); oerr != nil {
		err = errors.Join(err, oerr)
	}
	if err != nil {
		return fmt.Errorf("promote %s into %s: %w", z, group, err)
	}
	return nil
}

// closeZone stops and forgets a hosted replica.
func (n *Node) closeZone(h *hosted) {
	n.mu.Lock()
	if n.zones[h.zone] == h {
		delete(n.zones, h.zone)
	}
	n.mu.Unlock()
	if err := h.rep.Shutdown(); err != nil {
		n.log.Warn("shutdown replica", "group", h.zone, "err", err)
	}
	h.fsm.Close()
}

// setUpStore, on a store's leader, makes it a failover store (blacklist,
// stand-in limit), adds the backup zone's other nodes as voters, and takes
// the shards the route table gives it.
func (n *Node) setUpStore(h *hosted, z fsm.ZoneInfo, st fsm.MetaState) error {
	fi, err := h.fsm.Failover()
	if err != nil {
		return err
	}
	if fi == nil {
		var marks []fsm.Mark
		for _, u := range z.Failover.Blacklist {
			marks = append(marks, fsm.Mark{User: u})
		}
		pct := int64(fsm.DefaultStandinPercent)
		if it, ok := st.ConfigValue(ConfigStandinPercent); ok {
			if v, err := strconv.ParseInt(it.Value, 10, 64); err == nil && v >= 0 && v <= 100 {
				pct = v
			}
		}
		if _, err := n.apply(h, fsm.Command{Type: fsm.CmdFailover, NodeID: z.Name, Epoch: st.Epoch, Amount: pct, Marks: marks}); err != nil {
			return fmt.Errorf("set up failover store %s: %w", h.zone, err)
		}
	}
	var errs []error
	if members, err := h.rep.Members(); err == nil {
		for _, nd := range st.Nodes {
			if nd.Zone == z.Backup && !hasServer(members, nd.ID) {
				errs = append(errs, h.rep.AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), true, n.cfg.ApplyTimeout))
			}
		}
	}
	errs = append(errs, n.syncShards(h, st))
	if z.PhaseOf() == fsm.PhaseFailover && !n.leaseValid(h) {
		n.leases.Renew(h) // serve at once, not at the next renewal round
	}
	return errors.Join(errs...)
}

// settleStore slows a store member's election timeouts down from the
// quick first election once the store has a leader that serves.
func (n *Node) settleStore(h *hosted) error {
	rf := h.rep.Raft()
	rc := rf.ReloadableConfig()
	if rc.HeartbeatTimeout >= storeElection || rc.HeartbeatTimeout >= n.cfg.HeartbeatTimeout {
		return nil
	}
	if _, id := rf.LeaderWithID(); id == "" || (rf.State() == raft.Leader && !n.leaseValid(h)) {
		return nil
	}
	rc.HeartbeatTimeout = min(n.cfg.HeartbeatTimeout, storeElection)
	rc.ElectionTimeout = min(n.cfg.ElectionTimeout, storeElection)
	return rf.ReloadConfig(rc)
}

// retireStore closes a failover store whose zone has been reconciled and
// removes its files.
func (n *Node) retireStore(h *hosted) error {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	n.closeZone(h)
	n.log.Info("failover store retired", "store", h.zone)
	n.updateGossip()
	return os.RemoveAll(groupDir(n.cfg.DataDir, "zone/"+h.zone))
}

// handleFailover starts the failover of a zone: it answers 202 with the
// operation (ops.go), done once the zone's shards are routed to the
// failover store (?wait=D waits up to D for that).
func (n *Node) handleFailover(w http.ResponseWriter, r *http.Request) {
	n.zoneCommand(w, r, fsm.MetaFailover)
}

// handleRecover starts the reconciliation of a failed-over zone: it answers
// 202 with the operation, done once the shards are back home.
func (n *Node) handleRecover(w http.ResponseWriter, r *http.Request) {
	n.zoneCommand(w, r, fsm.MetaRecover)
}

// zoneCommand applies a failover or a recovery and answers with the
// operation record the meta group applied it into: the reply reflects the
// command whether or not this node's meta replica has applied it yet.
func (n *Node) zoneCommand(w http.ResponseWriter, r *http.Request, typ byte) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	name := r.PathValue("zone")
	wait, aerr := waitParam(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	st := n.metaFSM.State()
	zi, ok := st.ZoneOf(name)
	if !ok {
		writeError(w, api.Errorf(api.CodeNotFound, "no zone %q", name))
		return
	}
	if typ == fsm.MetaFailover && zi.PhaseOf() == fsm.PhaseNormal {
		force, err := strconv.ParseBool(cmp.Or(r.URL.Query().Get("force"), "false"))
		if err != nil {
			writeError(w, api.Errorf(api.CodeInvalidArgument, "force %q: want true or false", r.URL.Query().Get("force")))
			return
		}
		// A zone whose lease is valid looks healthy: failing it over
		// takes its writes away, so the operator must say so.
		if l, ok := st.Lease(name); ok && !force && clock.Now().UnixMilli() <= l.Until {
			writeError(w, api.Errorf(api.CodeLeaseValid, "zone %s holds a valid lease (until %s): fail it over anyway with force=true (rzone zone failover %s --force)",
				name, time.UnixMilli(l.Until).UTC().Format(time.RFC3339Nano), name))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	res, err := n.metaApplyIdempotent(ctx, fsm.MetaCmd{Type: typ, Zone: name, OpID: newOpID()})
	cancel()
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if res.Err != "" {
		writeError(w, api.Errorf(api.CodeFailover, "%s", res.Err))
		return
	}
	if res.Op == nil {
		writeError(w, api.Errorf(api.CodeInternal, "the meta group took the command on zone %s without an operation record", name))
		return
	}
	n.writeOp(w, r, *res.Op, wait)
}

// handleMergeShard merges a failover store's shard into this node's zone,
// which it must lead, once the zone has released the shard.
func (n *Node) handleMergeShard(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	group := r.URL.Query().Get("group")
	if err != nil || shard < 0 || shard >= fsm.NumShards || group == "" {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "merge needs a shard and ?group="))
		return
	}
	var recs []fsm.Record
	if err := decodeLarge(r, &recs); err != nil {
		writeError(w, err)
		return
	}
	c := fsm.Command{Type: fsm.CmdMerge, NodeID: group, Shards: []byte{byte(shard)}, Records: recs}
	if err := c.Validate(); err != nil {
		writeError(w, apiError(err))
		return
	}
	h := n.ownZone()
	if h == nil || !h.rep.IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead a zone", n.cfg.NodeID))
		return
	}
	// Only a reconciliation of this zone merges, and only its own store.
	if z, ok := n.metaFSM.State().StoreOf(group); !ok || z.Name != h.zone {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "group %q is no failover store of zone %s", group, h.zone))
		return
	} else if z.PhaseOf() != fsm.PhaseReconciling {
		writeError(w, api.Errorf(api.CodeUnavailable, "zone %s is %s, not reconciling %s (as this node's meta replica knows); retry", h.zone, z.PhaseOf(), group))
		return
	}
	if owned, _, err := h.fsm.Shards(); err != nil || owned[shard] != 0 {
		writeError(w, api.Errorf(api.CodeUnavailable, "zone %s has not released shard %d yet; retry", h.zone, shard))
		return
	}
	res, err := n.apply(h, c)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if e := resultError(res[0]); e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, res[0].Merge)
}

// notePayments counts the payments a failover store accepted, and the time
// from the failover's start to its first one.
func (n *Node) notePayments(h *hosted, cmds []fsm.Command, res []fsm.Result) {
	if !h.store {
		return
	}
	for i := range cmds {
		switch {
		case cmds[i].Type == fsm.CmdPay && res[i].Code == fsm.OK && !res[i].Replay:
			zi, ok := n.metaFSM.State().StoreOf(h.zone)
			if !ok {
				continue
			}
			n.metrics.failoverPayments.WithLabelValues(zi.Name).Inc()
			if h.firstPaid.CompareAndSwap(false, true) && zi.Failover != nil {
				d := time.Since(time.UnixMilli(zi.Failover.Started))
				n.metrics.firstPayment.WithLabelValues(zi.Name).Set(d.Seconds())
				n.log.Warn("first payment accepted by the failover store", "zone", zi.Name, "store", h.zone, "since_failover_start", d)
			}
		case res[i].Code == fsm.Isolated:
			n.metrics.isolatedRefused.Inc()
		}
	}
}
