package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
)

// The node lifecycle's endpoints: a node's removal, drain and undrain
// (zone.Handoff, zone/nodeops.go; the converge round's part is
// zone.Converger).

// clusterReady reports whether the node runs in an initialized cluster;
// else it has answered so.
func (n *Node) clusterReady(w http.ResponseWriter) bool {
	if !n.clustered || !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return false
	}
	return true
}

// handleNodeRemove removes a node, dead or live, for good
// (zone.Handoff.Remove).
func (n *Node) handleNodeRemove(w http.ResponseWriter, r *http.Request) {
	if !n.clusterReady(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	defer cancel()
	out, err := n.handoff.Remove(ctx, r.PathValue("id"))
	writeResult(w, out, err)
}

// handleNodeDrain drains a node (zone.Handoff.Drain). Another node
// forwards the request to it.
func (n *Node) handleNodeDrain(w http.ResponseWriter, r *http.Request) {
	if !n.clusterReady(w) {
		return
	}
	id := r.PathValue("id")
	nd, ok := n.metaFSM.State().Node(id)
	if !ok {
		api.WriteError(w, api.Errorf(api.CodeNotFound, "no node %q", id))
		return
	}
	if id != n.cfg.NodeID {
		hops, _ := strconv.Atoi(r.Header.Get(HeaderForwarded))
		if hops >= cluster.MaxHops {
			api.WriteError(w, api.Errorf(api.CodeUnavailable, "drain of %s forwarded %d times; retry", id, hops))
			return
		}
		n.proxy(w, r, nil, nd.HTTPAddr, hops+1, true, nil, false)
		return
	}
	out, err := n.handoff.Drain(r.Context(), n.cfg.ApplyTimeout)
	writeResult(w, out, err)
}

// handleNodeUndrain lets a drained node lead and take tasks again
// (zone.Handoff.Undrain).
func (n *Node) handleNodeUndrain(w http.ResponseWriter, r *http.Request) {
	if !n.clusterReady(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	defer cancel()
	out, err := n.handoff.Undrain(ctx, r.PathValue("id"))
	writeResult(w, out, err)
}

// writeResult answers err's error, else 200 with v.
func writeResult[T any](w http.ResponseWriter, v T, err error) {
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, v)
}
