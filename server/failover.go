package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// The failover endpoints (docs/DESIGN.md, Failover), and the node's loop
// of its failover driver and stores (zone/failover.go, zone/reconcile.go,
// zone/store.go).

// failoverLoop drives, on the meta leader, automatic failovers and the
// steps of failovers and reconciliations under way, and on every node the
// upkeep of its failover stores (zone.FailoverDriver.Tick). It returns
// once the driver's steps under way have ended.
func (n *Node) failoverLoop(stop <-chan struct{}) {
	n.every(stop, n.cfg.FailoverTick, func() { n.failover.Tick(n.zones) })
	n.failoverTasks.Wait()
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

// zoneCommand applies a failover or a recovery (as zone.CheckZoneCommand
// allows) and answers with its operation record (cluster.Member.BeginOp).
func (n *Node) zoneCommand(w http.ResponseWriter, r *http.Request, typ byte) {
	if !n.clusterReady(w) {
		return
	}
	name := r.PathValue("zone")
	wait, aerr := waitParam(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	if aerr := zone.CheckZoneCommand(n.metaFSM.State(), typ, name, r.URL.Query().Get("force")); aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	o, err := n.cluster.BeginOp(ctx, fsm.MetaCmd{Type: typ, Zone: name, OpID: cluster.NewOpID()}, api.CodeFailover, "took the command on zone "+name)
	cancel()
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	n.writeOp(w, r, o, wait)
}

// handleMergeShard merges a failover store's shard into this node's zone,
// which it must lead, once the zone has released the shard
// (zone.ReplicaSet.Merge).
func (n *Node) handleMergeShard(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	group := r.URL.Query().Get("group")
	if err != nil || shard < 0 || shard >= fsm.NumShards || group == "" {
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "merge needs a shard and ?group="))
		return
	}
	var recs []fsm.Record
	if err := decodeLarge(r, &recs); err != nil {
		api.WriteError(w, err)
		return
	}
	res, err := n.zones.Merge(n.metaFSM, group, shard, recs)
	writeApplied(w, res, err, res.Merge)
}

// writeApplied answers a command proposed in a zone group: err's or the
// result's error, else 200 with body.
func writeApplied(w http.ResponseWriter, res fsm.Result, err error, body any) {
	if e := cluster.ResultError(res); err == nil && e != nil {
		err = e
	}
	writeResult(w, body, err)
}
