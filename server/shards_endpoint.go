package server

import (
	"context"
	"net/http"
	"strconv"

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
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	shard, err := strconv.Atoi(r.PathValue("shard"))
	if err != nil || shard < 0 || shard >= fsm.NumShards {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "shard %q: want 0 to %d", r.PathValue("shard"), fsm.NumShards-1))
		return
	}
	wait, aerr := waitParam(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var req moveShardRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	st := n.metaFSM.State()
	if _, ok := st.ZoneOf(req.Zone); !ok {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "no zone %q", req.Zone))
		return
	}
	if cur := st.Shards[shard]; cur.Zone == req.Zone && cur.Target == "" {
		// There already: the move that brought it, or a record saying so.
		o, ok := st.LatestOp(fsm.OpShardMove, fsm.ShardTarget(shard))
		if !ok || o.To != req.Zone || !o.Done() {
			o = fsm.Op{Kind: fsm.OpShardMove, Target: fsm.ShardTarget(shard), Shard: shard, To: req.Zone, Phase: fsm.OpDone,
				Progress: 100, Detail: "the shard is in " + req.Zone + " already", Index: n.metaFSM.AppliedIndex()}
		}
		n.writeOp(w, r, o, 0)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	defer cancel()
	res, err := n.metaApplyIdempotent(ctx, fsm.MetaCmd{Type: fsm.MetaMoveShard, Shard: shard, Target: req.Zone, OpID: newOpID()})
	if metaRefused(w, res, err, api.CodeInvalidArgument) {
		return
	}
	if res.Op == nil {
		writeError(w, api.Errorf(api.CodeInternal, "the meta group began the move of shard %d without an operation record", shard))
		return
	}
	n.log.Info("shard move begun", "shard", shard, "to", req.Zone, "op", res.Op.ID)
	n.writeOp(w, r, *res.Op, wait)
}

// retryZone calls fn with the zone leader's address until it succeeds with
// anything but a retryable error, or ctx ends (cluster.Member.RetryZone).
func (n *Node) retryZone(ctx context.Context, z string, fn func(addr string) error) error {
	return n.cluster.RetryZone(ctx, z, fn)
}

// handleExportShard returns a released shard's records, read on the zone
// leader after the release is applied (zone.Hosted.ExportReleased).
func (n *Node) handleExportShard(w http.ResponseWriter, r *http.Request) {
	shard, _ := strconv.Atoi(r.PathValue("shard"))
	epoch, _ := strconv.ParseUint(r.URL.Query().Get("epoch"), 10, 64)
	h, aerr := n.groupLeaderOf(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	recs, err := h.ExportReleased(r.Context(), shard, epoch, n.cfg.ReadTimeout)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, recs)
}

// handleImportShard writes a moving shard's records into this zone's log.
// Only what a move would send is proposed: records of the path's shard,
// whole users that add up (fsm.Command.Validate), while the meta group
// moves that shard to this zone.
func (n *Node) handleImportShard(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	if err != nil || shard < 0 || shard >= fsm.NumShards {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "shard %q: want 0 to %d", r.PathValue("shard"), fsm.NumShards-1))
		return
	}
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "a standalone zone owns every shard: it takes no shard moves"))
		return
	}
	var recs []fsm.Record
	if err := decodeLarge(r, &recs); err != nil {
		writeError(w, err)
		return
	}
	c := fsm.Command{Type: fsm.CmdIngest, Records: recs}
	if err := c.Validate(); err != nil {
		writeError(w, apiError(err))
		return
	}
	if u, _ := fsm.RecordUser(recs[0].Bucket, recs[0].Key); int(u%fsm.NumShards) != shard { // Validate: every record is in one shard
		writeError(w, api.Errorf(api.CodeInvalidArgument, "records of shard %d posted to shard %d", u%fsm.NumShards, shard))
		return
	}
	h := n.zones.Own()
	if h == nil || !h.Replica().IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead a zone", n.cfg.NodeID))
		return
	}
	if route := n.metaFSM.State().Shards; len(route) <= shard || route[shard].Target != h.Name() {
		// This node's meta replica may not show the move yet: the mover
		// retries.
		writeError(w, api.Errorf(api.CodeUnavailable, "shard %d is not moving to zone %s (as this node's meta replica knows); retry", shard, h.Name()))
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
	writeJSON(w, http.StatusOK, map[string]int{"records": len(recs)})
}

// handleDropShard removes a moved shard's outbox and effect records from the
// group it left (fsm.CmdDropShard), once the target has taken them, so that
// the group delivers none of the shard's notifications again.
func (n *Node) handleDropShard(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	if err != nil || shard < 0 || shard >= fsm.NumShards {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "shard %q: want 0 to %d", r.PathValue("shard"), fsm.NumShards-1))
		return
	}
	epoch, err := strconv.ParseUint(r.URL.Query().Get("epoch"), 10, 64)
	if err != nil {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "epoch %q: %v", r.URL.Query().Get("epoch"), err))
		return
	}
	h, aerr := n.groupLeaderOf(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	res, err := n.apply(h, fsm.Command{Type: fsm.CmdDropShard, Shards: []byte{byte(shard)}, Epoch: epoch})
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if e := resultError(res[0]); e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"shard": shard})
}

// groupLeaderOf returns the group a shard request names (?group=, this
// node's own zone by default) when this node leads it.
func (n *Node) groupLeaderOf(r *http.Request) (*zone.Hosted, *api.Error) {
	h := n.zones.Own()
	if g := r.URL.Query().Get("group"); g != "" {
		h = n.zones.Get(g)
	}
	if h == nil || !h.Voter() || !h.Replica().IsLeader() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s does not lead the group", n.cfg.NodeID)
	}
	return h, nil
}

// moveShardRequest is the body of POST /v1/shards/{shard}/move.
type moveShardRequest struct {
	Zone string `json:"zone"`
}
