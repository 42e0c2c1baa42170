package server

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/zone"
)

// The failover endpoints (docs/DESIGN.md, Failover). The meta leader's
// driver of failovers and reconciliations is zone.FailoverDriver
// (zone/failover.go, zone/reconcile.go); the node's replica set hosts,
// promotes, sets up and retires its failover stores as the meta state says
// (zone/store.go); here the node runs them and serves the failover and
// merge endpoints.

// Config keys of failover (zone.ConfigAutoFailover,
// zone.ConfigStandinPercent).
const (
	ConfigAutoFailover   = zone.ConfigAutoFailover
	ConfigStandinPercent = zone.ConfigStandinPercent
)

// storeMarker is a file in a failover store's group directory, so that a
// restarted node reopens the group as a voter (zone.StoreMarker).
const storeMarker = zone.StoreMarker

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
	if n.zones.StoreWork(st) {
		if err := n.zones.ConvergeStores(st); err != nil {
			n.log.Debug("failover store", "err", err)
		}
	}
	n.failover.Drive(st)
}

// testHoldStoreSetUp, when set (tests), keeps a store's leader from setting
// the store up (zone.TestHoldStoreSetUp).
var testHoldStoreSetUp = &zone.TestHoldStoreSetUp

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
	h := n.zones.Own()
	if h == nil || !h.Replica().IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead a zone", n.cfg.NodeID))
		return
	}
	// Only a reconciliation of this zone merges, and only its own store.
	if z, ok := n.metaFSM.State().StoreOf(group); !ok || z.Name != h.Name() {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "group %q is no failover store of zone %s", group, h.Name()))
		return
	} else if z.PhaseOf() != fsm.PhaseReconciling {
		writeError(w, api.Errorf(api.CodeUnavailable, "zone %s is %s, not reconciling %s (as this node's meta replica knows); retry", h.Name(), z.PhaseOf(), group))
		return
	}
	if owned, _, err := h.FSM().Shards(); err != nil || owned[shard] != 0 {
		writeError(w, api.Errorf(api.CodeUnavailable, "zone %s has not released shard %d yet; retry", h.Name(), shard))
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
