package server

import (
	"io"
	"net/http"
	"strconv"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
)

// handlePayBatch takes many payments in one request, as one log entry per
// zone. Each payment keeps its own idempotency key and gets its own result,
// exactly as a single request would.
func (n *Node) handlePayBatch(w http.ResponseWriter, r *http.Request) {
	serveBatch(n, w, r, cluster.PayBatch)
}

// handleAccountBatch creates (or sets the limits of) many accounts in one
// request, as one log entry per zone; each gets the result a single PUT
// would have got.
func (n *Node) handleAccountBatch(w http.ResponseWriter, r *http.Request) {
	serveBatch(n, w, r, cluster.AccountBatch)
}

// serveBatch serves a batch request: the node groups the items by the zone
// that owns each user, applies the group of a zone it leads in a single
// entry, and forwards the others to their zones' leaders
// (cluster.ApplyBatch).
func serveBatch[T any](n *Node, w http.ResponseWriter, r *http.Request, k cluster.BatchKind[T]) {
	data, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBatchBodyBytes+1))
	if err != nil {
		// Cut short or timed out: nothing was taken, and sending it again
		// may work. Not payload_too_large, which is, to the Go client, a
		// final answer about the request that settles an earlier attempt's
		// unknown outcome.
		api.WriteError(w, api.Errorf(api.CodeUnavailable, "read batch body: %v; retry", err))
		return
	}
	if len(data) > api.MaxBatchBodyBytes {
		api.WriteError(w, api.Errorf(api.CodePayloadTooLarge, "a batch body is at most %d bytes", api.MaxBatchBodyBytes))
		return
	}
	items, err := k.Decode(data)
	if err != nil {
		api.WriteError(w, err.(*api.Error))
		return
	}
	hops, _ := strconv.Atoi(r.Header.Get(HeaderForwarded))
	api.WriteJSON(w, http.StatusOK, api.BatchResponse{Results: cluster.ApplyBatch(n.cluster, r.Context(), k, items, hops)})
}
