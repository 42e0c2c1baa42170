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
	body, aerr := readBody(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var req api.JoinRequest
	if err := api.DecodeBytes(body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "this node is part of a multi-zone cluster: nodes join by gossip and `rzone cluster init`"))
		return
	}
	if !n.IsLeader() {
		n.forwardToZone(w, r, body, n.cfg.Zone, true)
		return
	}
	if err := n.addVoter(req.NodeID, req.RaftAddr, req.HTTPAddr); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"joined": req.NodeID})
}

// Status is this node's view of its own zone's group (zone.NodeStatus).
func (n *Node) Status() api.Status {
	return zone.NodeStatus(n.zones.Own(), n.cfg.NodeID, n.cfg.Zone, n.httpAddrOf)
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.Status())
}

func (n *Node) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 when this node can serve a user request of
// every shard now (cluster.Member.Ready); with ?group=G it answers for G
// alone, from G's leader.
func (n *Node) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := n.cluster.Ready(ctx, r.URL.Query().Get("group")); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleClusterInit creates the cluster, or answers it again
// (cluster.Member.Init).
func (n *Node) handleClusterInit(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "this node runs a standalone zone (started with --bootstrap/--join)"))
		return
	}
	var req cluster.InitRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	rt, err := n.cluster.Init(r.Context(), req, n.gossip.Members, n.certs != nil)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, rt)
}

func (n *Node) handleInternalBootstrap(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "not a cluster node"))
		return
	}
	var req cluster.BootstrapRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	if err := n.cluster.Bootstrap(req); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"bootstrapped": n.cfg.NodeID})
}
