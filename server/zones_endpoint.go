package server

import (
	"context"
	"net/http"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/zone"
)

func (n *Node) handleRoutes(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteJSON(w, http.StatusOK, n.cluster.StandaloneRoutes())
		return
	}
	if e := n.waitAfter(r); e != nil {
		api.WriteError(w, e)
		return
	}
	if !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	api.WriteJSON(w, http.StatusOK, n.cluster.RouteTable())
}

// handleInternalReplicas serves this node's replicas; with ?digest=1 each
// comes with its state digest (cluster.Member.LocalReplicas: for fault
// tests and operators comparing replicas, not for the zone status's polls).
func (n *Node) handleInternalReplicas(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, n.cluster.LocalReplicas(r.URL.Query().Get("digest") == "1"))
}

// newStatus makes the node's gatherer of the zone status (zone.Status).
func (n *Node) newStatus() *zone.Status {
	return &zone.Status{NodeID: n.cfg.NodeID, Local: func() []api.ReplicaState { return n.cluster.LocalReplicas(false) },
		Get: func(ctx context.Context, addr string, out *[]api.ReplicaState) error {
			return n.peer.GetJSON(ctx, addr, "/v1/internal/replicas", out, peer.Timeout(700*time.Millisecond))
		}}
}

func (n *Node) handleZones(w http.ResponseWriter, r *http.Request) {
	if e := n.waitAfter(r); e != nil {
		api.WriteError(w, e)
		return
	}
	if !n.clustered || !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	api.WriteJSON(w, http.StatusOK, n.status.Zones(r.Context(), n.metaFSM.State()))
}

func (n *Node) handleZone(w http.ResponseWriter, r *http.Request) {
	if e := n.waitAfter(r); e != nil {
		api.WriteError(w, e)
		return
	}
	if !n.clustered || !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	name := r.PathValue("zone")
	for _, z := range n.status.Zones(r.Context(), n.metaFSM.State()).Zones {
		if z.Zone == name {
			api.WriteJSON(w, http.StatusOK, z)
			return
		}
	}
	api.WriteError(w, api.Errorf(api.CodeNotFound, "no zone %q", name))
}

func (n *Node) handleMembers(w http.ResponseWriter, r *http.Request) {
	if n.gossip == nil {
		api.WriteError(w, api.Errorf(api.CodeNotFound, "this node runs a standalone zone without gossip"))
		return
	}
	api.WriteJSON(w, http.StatusOK, cluster.APIMembers(n.gossip))
}
