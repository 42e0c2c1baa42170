package server

import (
	"net/http"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// The operations of the meta group (failovers, recoveries, shard moves,
// the init) and how a command waits for them: cluster/ops.go.

// waitAfter waits, for a request with ?after=INDEX, until this node's meta
// replica has applied INDEX (cluster.Member.WaitAfter).
func (n *Node) waitAfter(r *http.Request) *api.Error {
	if !n.clustered {
		return nil
	}
	return n.cluster.WaitAfter(r.Context(), r.URL.Query().Get("after"))
}

// handleListOps lists the operations under way and the latest finished.
func (n *Node) handleListOps(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	if e := n.waitAfter(r); e != nil {
		api.WriteError(w, e)
		return
	}
	api.WriteJSON(w, http.StatusOK, cluster.APIOps(n.metaFSM.State().Ops))
}

// handleGetOp answers one operation.
func (n *Node) handleGetOp(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	if e := n.waitAfter(r); e != nil {
		api.WriteError(w, e)
		return
	}
	id := r.PathValue("id")
	o, ok := n.metaFSM.State().Op(id)
	if !ok {
		api.WriteError(w, api.Errorf(api.CodeNotFound, "no operation %q (as node %s's meta replica knows, at index %d)", id, n.cfg.NodeID, n.metaFSM.AppliedIndex()))
		return
	}
	api.WriteJSON(w, http.StatusOK, cluster.APIOp(o))
}

// writeOp answers an admin command with the operation it began: 202 while
// it runs, 200 once it has finished. With ?wait=D (default 0) it first
// waits up to D for it to finish.
func (n *Node) writeOp(w http.ResponseWriter, r *http.Request, o fsm.Op, wait time.Duration) {
	o, ok := n.cluster.WaitOp(r.Context(), o, wait)
	if !ok {
		return
	}
	status := http.StatusAccepted
	if o.Done() {
		status = http.StatusOK
	}
	api.WriteJSON(w, status, cluster.APIOp(o))
}

// waitParam parses ?wait= (default 0).
func waitParam(r *http.Request) (time.Duration, *api.Error) {
	return cluster.ParseWait(r.URL.Query().Get("wait"))
}
