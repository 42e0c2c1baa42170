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

// handleMoveShard moves a shard to another zone, safely under load. The
// move is an operation (cluster/ops.go): the command records it and answers 202
// with it, and the meta leader drives it (zone.ShardMoveDriver;
// zone/shardmove.go lists its phases: releasing, importing, dropping,
// routing), from the phase its record shows when a driver died with its
// meta leader.
func (n *Node) handleMoveShard(w http.ResponseWriter, r *http.Request) {
	if !n.clusterReady(w) {
		return
	}
	shard, aerr := shardParam(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	wait, aerr := waitParam(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	var req moveShardRequest
	if err := api.Decode(r.Body, &req); err != nil {
		api.WriteError(w, err.(*api.Error))
		return
	}
	o, there, aerr := zone.MoveState(n.metaFSM, shard, req.Zone)
	if aerr != nil || there {
		if aerr != nil {
			api.WriteError(w, aerr)
		} else {
			n.writeOp(w, r, o, 0)
		}
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	defer cancel()
	c := fsm.MetaCmd{Type: fsm.MetaMoveShard, Shard: shard, Target: req.Zone, OpID: cluster.NewOpID()}
	o, err := n.cluster.BeginOp(ctx, c, api.CodeInvalidArgument, "began the move of shard "+strconv.Itoa(shard))
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	n.log.Info("shard move begun", "shard", shard, "to", req.Zone, "op", o.ID)
	n.writeOp(w, r, o, wait)
}

// shardParam parses the path's shard.
func shardParam(r *http.Request) (int, *api.Error) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	if err != nil || shard < 0 || shard >= fsm.NumShards {
		return 0, api.Errorf(api.CodeInvalidArgument, "shard %q: want 0 to %d", r.PathValue("shard"), fsm.NumShards-1)
	}
	return shard, nil
}

// handleExportShard returns a released shard's records, read on the leader
// of ?group= (zone.ReplicaSet.LeaderOf) after the release is applied
// (zone.Hosted.ExportReleased).
func (n *Node) handleExportShard(w http.ResponseWriter, r *http.Request) {
	shard, _ := strconv.Atoi(r.PathValue("shard"))
	epoch, _ := strconv.ParseUint(r.URL.Query().Get("epoch"), 10, 64)
	h, err := n.zones.LeaderOf(r.URL.Query().Get("group"))
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	recs, err := h.ExportReleased(r.Context(), shard, epoch, n.cfg.ReadTimeout)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, recs)
}

// handleImportShard writes a moving shard's records into this zone's log
// (zone.ReplicaSet.Import).
func (n *Node) handleImportShard(w http.ResponseWriter, r *http.Request) {
	shard, aerr := shardParam(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	if !n.clustered {
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "a standalone zone owns every shard: it takes no shard moves"))
		return
	}
	var recs []fsm.Record
	if err := decodeLarge(r, &recs); err != nil {
		api.WriteError(w, err)
		return
	}
	res, err := n.zones.Import(n.metaFSM, shard, recs)
	writeApplied(w, res, err, map[string]int{"records": len(recs)})
}

// handleDropShard removes a moved shard's outbox and effect records from
// the group it left (zone.ReplicaSet.DropShard).
func (n *Node) handleDropShard(w http.ResponseWriter, r *http.Request) {
	shard, aerr := shardParam(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	epoch, err := strconv.ParseUint(r.URL.Query().Get("epoch"), 10, 64)
	if err != nil {
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "epoch %q: %v", r.URL.Query().Get("epoch"), err))
		return
	}
	res, err := n.zones.DropShard(r.URL.Query().Get("group"), shard, epoch)
	writeApplied(w, res, err, map[string]int{"shard": shard})
}

// moveShardRequest is the body of POST /v1/shards/{shard}/move.
type moveShardRequest struct {
	Zone string `json:"zone"`
}
