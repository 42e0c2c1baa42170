package server

import (
	"context"
	"net/http"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// handleJoin (standalone) adds the calling node as a voter of this zone. A
// follower forwards it to the leader.
func (n *Node) handleJoin(w http.ResponseWriter, r *http.Request) {
	body, aerr := api.ReadBody(r)
	if aerr != nil {
		api.WriteError(w, aerr)
		return
	}
	var req api.JoinRequest
	if err := api.DecodeBytes(body, &req); err != nil {
		api.WriteError(w, err.(*api.Error))
		return
	}
	if err := req.Validate(); err != nil {
		api.WriteError(w, err.(*api.Error))
		return
	}
	if n.clustered {
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "this node is part of a multi-zone cluster: nodes join by gossip and `rzone cluster init`"))
		return
	}
	if !n.IsLeader() {
		n.forwardToZone(w, r, body, n.cfg.Zone, true)
		return
	}
	if err := n.cluster.AddVoter(req.NodeID, req.RaftAddr, req.HTTPAddr); err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"joined": req.NodeID})
}

// Status is this node's view of its own zone's group (zone.NodeStatus).
func (n *Node) Status() api.Status {
	return zone.NodeStatus(n.zones.Own(), n.cfg.NodeID, n.cfg.Zone, n.cluster.HTTPAddrOf)
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, n.Status())
}

func (n *Node) handleHealthz(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 when this node can serve a user request of
// every shard now (cluster.Member.Ready); with ?group=G it answers for G
// alone, from G's leader.
func (n *Node) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := n.cluster.Ready(ctx, r.URL.Query().Get("group")); err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleClusterInit creates the cluster, or answers it again
// (cluster.Member.Init).
func (n *Node) handleClusterInit(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "this node runs a standalone zone (started with --bootstrap/--join)"))
		return
	}
	var req cluster.InitRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	rt, err := n.cluster.Init(r.Context(), req, n.gossip.Members, n.certs != nil)
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, rt)
}

func (n *Node) handleInternalBootstrap(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "not a cluster node"))
		return
	}
	var req cluster.BootstrapRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	if err := n.cluster.Bootstrap(req); err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"bootstrapped": n.cfg.NodeID})
}
