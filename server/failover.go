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
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/internal/layout"
	"github.com/rzonedb/rzone/zone"
)

// Failover stores and the failover endpoints (docs/DESIGN.md, Failover).
// The meta leader's driver of failovers and reconciliations is
// zone.FailoverDriver (zone/failover.go, zone/reconcile.go); here the node
// hosts, promotes, sets up and retires its failover stores as the meta
// state says, and serves the failover and merge endpoints.

// Config keys of failover (zone.ConfigAutoFailover,
// zone.ConfigStandinPercent).
const (
	ConfigAutoFailover   = zone.ConfigAutoFailover
	ConfigStandinPercent = zone.ConfigStandinPercent
)

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

// failoverLoop drives, on the meta leader, automatic failovers and the
// steps of failovers and reconciliations under way (zone.FailoverDriver),
// and on every node the upkeep of its failover stores. It returns once the
// driver's steps under way have ended.
func (n *Node) failoverLoop(stop <-chan struct{}) {
	n.every(stop, n.cfg.FailoverTick, n.failoverTick)
	n.failoverTasks.Wait()
}

func (n *Node) failoverTick() {
	st := n.metaFSM.State()
	if !st.Initialized {
		return
	}
	n.failover.ExportPhases(st)
	if n.storeWork(st) {
		if err := n.convergeStores(st); err != nil {
			n.log.Debug("failover store", "err", err)
		}
	}
	n.failover.Drive(st)
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
	dir := layout.GroupDir(n.cfg.DataDir, "zone/"+group)
	if _, err := os.Stat(filepath.Join(dir, storeMarker)); err != nil {
		// The group's directory is made whole in a staging directory and
		// renamed into place, so a crash never leaves a half-made store
		// that a restart would open.
		staging := layout.GroupDir(n.cfg.DataDir, "staging/"+group)
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
	src := layout.GroupDir(n.cfg.DataDir, "zone/"+z)
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
	return os.RemoveAll(layout.GroupDir(n.cfg.DataDir, "zone/"+h.zone))
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
