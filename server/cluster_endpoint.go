package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
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
	if req.NodeID == "" || req.RaftAddr == "" || req.HTTPAddr == "" {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "node_id, raft_addr and http_addr are required"))
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

// handleClusterInit creates the cluster: it picks the meta voters (one node
// per zone, round robin, three in all), asks every node to bootstrap its
// groups, then writes the zones, nodes and route table into the meta group.
// It is idempotent: once the meta group is initialized it returns it.
func (n *Node) handleClusterInit(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "this node runs a standalone zone (started with --bootstrap/--join)"))
		return
	}
	var req cluster.InitRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if st := n.metaFSM.State(); st.Initialized {
		if have := cluster.ZoneNames(st.Zones); !cluster.SameSet(have, req.Zones) {
			writeError(w, api.Errorf(api.CodeClusterExists, "the cluster is already initialized with zones %v, not %v", have, req.Zones))
			return
		}
		rt := n.cluster.RouteTable()
		rt.Operation = cluster.InitOp(st)
		writeJSON(w, http.StatusOK, rt)
		return
	}
	plan, err := cluster.PlanInit(req, n.gossip.Members)
	if errors.Is(err, cluster.ErrTooFewNodes) {
		writeError(w, api.Errorf(api.CodeUnavailable, "%v", err))
		return
	}
	if err != nil {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "%v", err))
		return
	}
	// Check the meta command the init ends with before any node
	// bootstraps a group for it.
	var secret string
	if n.certs != nil {
		id, hash, tok := newToken()
		plan.Token, secret = &fsm.Token{ID: id, Role: fsm.RoleAdmin, Name: "init", Hash: hash}, tok
	}
	init := fsm.MetaCmd{Type: fsm.MetaInit, Zones: plan.Zones, Nodes: plan.Nodes, Token: plan.Token}
	if err := init.Validate(); err != nil {
		writeError(w, apiError(err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	op, err := n.cluster.RunInit(ctx, plan)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	rt := n.cluster.RouteTable()
	rt.Operation = op
	if plan.Token != nil {
		if _, ok := n.metaFSM.Token(plan.Token.ID); ok {
			rt.AdminToken = secret
		}
	}
	writeJSON(w, http.StatusOK, rt)
}

func (n *Node) handleInternalBootstrap(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "not a cluster node"))
		return
	}
	var req cluster.BootstrapRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if err := n.cluster.Bootstrap(req); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"bootstrapped": n.cfg.NodeID})
}
