package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
)

// batchKind is what one batch endpoint adds to serveBatch: its path (to
// forward a zone's share), how to read the body, and, per item, its user,
// its own validation, its command and the result of a command that
// succeeded.
type batchKind[T any] struct {
	path   string
	decode func(data []byte) ([]T, error)
	wrap   func(share []T) any
	user   func(T) uint64
	check  func(T) error
	cmd    func(T) fsm.Command
	ok     func(fsm.Result) api.BatchResult
}

var payBatch = batchKind[api.BatchPayment]{
	path: "/v1/payments/batch",
	decode: func(data []byte) ([]api.BatchPayment, error) {
		var req api.BatchRequest
		if err := api.DecodeBytes(data, &req); err != nil {
			return nil, err
		}
		return req.Payments, req.Validate()
	},
	wrap: func(ps []api.BatchPayment) any { return api.BatchRequest{Payments: ps} },
	user: func(p api.BatchPayment) uint64 { return p.User },
	check: func(p api.BatchPayment) error {
		pr := api.PayRequest{Key: p.Key, Amount: p.Amount, Merchant: p.Merchant}
		return pr.Validate()
	},
	cmd: func(p api.BatchPayment) fsm.Command {
		return fsm.Command{Type: fsm.CmdPay, User: p.User, Key: p.Key, Amount: p.Amount, Merchant: p.Merchant}
	},
	ok: func(r fsm.Result) api.BatchResult {
		return api.BatchResult{Status: createdStatus(r.Replay), Payment: r.Payment}
	},
}

var accountBatch = batchKind[api.BatchAccount]{
	path: "/v1/accounts/batch",
	decode: func(data []byte) ([]api.BatchAccount, error) {
		var req api.AccountBatchRequest
		if err := api.DecodeBytes(data, &req); err != nil {
			return nil, err
		}
		return req.Accounts, req.Validate()
	},
	wrap: func(as []api.BatchAccount) any { return api.AccountBatchRequest{Accounts: as} },
	user: func(a api.BatchAccount) uint64 { return a.User },
	check: func(a api.BatchAccount) error {
		return (&api.PutAccountRequest{CreditLimit: a.CreditLimit}).Validate()
	},
	cmd: func(a api.BatchAccount) fsm.Command {
		return fsm.Command{Type: fsm.CmdPutAccount, User: a.User, CreditLimit: a.CreditLimit}
	},
	ok: func(r fsm.Result) api.BatchResult { return api.BatchResult{Status: http.StatusOK, Account: r.Account} },
}

// handlePayBatch takes many payments in one request, as one log entry per
// zone. Each payment keeps its own idempotency key and gets its own result,
// exactly as a single request would.
func (n *Node) handlePayBatch(w http.ResponseWriter, r *http.Request) { serveBatch(n, w, r, payBatch) }

// handleAccountBatch creates (or sets the limits of) many accounts in one
// request, as one log entry per zone; each gets the result a single PUT
// would have got.
func (n *Node) handleAccountBatch(w http.ResponseWriter, r *http.Request) {
	serveBatch(n, w, r, accountBatch)
}

// serveBatch serves a batch request: a node groups the items by the zone
// that owns each user, applies the group of a zone it leads in a single
// entry, and forwards the others to their zones' leaders.
func serveBatch[T any](n *Node, w http.ResponseWriter, r *http.Request, k batchKind[T]) {
	data, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBatchBodyBytes+1))
	if err != nil || len(data) > api.MaxBatchBodyBytes {
		writeError(w, api.Errorf(api.CodePayloadTooLarge, "a batch body is at most %d bytes", api.MaxBatchBodyBytes))
		return
	}
	items, err := k.decode(data)
	if err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	results := make([]api.BatchResult, len(items))
	byZone := map[string][]int{}
	for i, it := range items {
		if err := k.check(it); err != nil {
			results[i] = failed(err.(*api.Error))
			continue
		}
		z, _, err := n.routeUser(k.user(it))
		if err != nil {
			results[i] = failed(apiError(err))
			continue
		}
		byZone[z] = append(byZone[z], i)
	}
	zones := make([]string, 0, len(byZone))
	for z := range byZone {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	hops, _ := strconv.Atoi(r.Header.Get(HeaderForwarded))
	var wg sync.WaitGroup
	for _, z := range zones {
		wg.Add(1)
		go func(z string, idx []int) {
			defer wg.Done()
			zoneBatch(n, r.Context(), k, z, hops, items, idx, results)
		}(z, byZone[z])
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, api.BatchResponse{Results: results})
}

func failed(e *api.Error) api.BatchResult {
	return api.BatchResult{Status: e.Code.HTTPStatus(), Error: e}
}

// zoneBatch settles the items at idx, all of zone z: in one entry when this
// node leads z, else by forwarding them to z's leader.
func zoneBatch[T any](n *Node, ctx context.Context, k batchKind[T], z string, hops int, items []T, idx []int, results []api.BatchResult) {
	fail := func(e *api.Error) {
		for _, i := range idx {
			results[i] = failed(e)
		}
	}
	h := n.zones.Get(z)
	if h == nil || !h.Voter() || !h.Replica().IsLeader() {
		if hops >= maxHops {
			fail(api.Errorf(api.CodeUnavailable, "node %s cannot serve zone %s; retry", n.cfg.NodeID, z))
			return
		}
		addr, err := n.zoneLeaderHTTP(ctx, z)
		if err != nil || addr == "" {
			fail(api.Errorf(api.CodeUnavailable, "zone %s has no reachable leader; retry", z))
			return
		}
		share := make([]T, len(idx))
		for j, i := range idx {
			share[j] = items[i]
		}
		out, err := n.postBatch(ctx, addr, k.path, k.wrap(share), len(share), hops+1)
		if err != nil {
			fail(api.Errorf(api.CodeUnknownOutcome, "forwarded batch to %s: %v; retry (a batch is idempotent item by item)", addr, err))
			return
		}
		for j, i := range idx {
			results[i] = out.Results[j]
		}
		return
	}
	cmds := make([]fsm.Command, len(idx))
	for j, i := range idx {
		cmds[j] = k.cmd(items[i])
	}
	res, err := n.zones.ApplyGated(ctx, h, cmds...)
	if err != nil {
		fail(apiError(err))
		return
	}
	for j, i := range idx {
		if e := n.commandError(cmds[j].User, res[j]); e != nil {
			results[i] = failed(e)
			continue
		}
		results[i] = k.ok(res[j])
	}
}

// postBatch forwards a batch of count items to another node.
func (n *Node) postBatch(ctx context.Context, addr, path string, req any, count, hops int) (*api.BatchResponse, error) {
	var out api.BatchResponse
	if err := n.peer.PostJSON(ctx, addr, path, req, &out, peer.Hops(hops), peer.Timeout(0)); err != nil {
		return nil, err
	}
	if len(out.Results) != count {
		return nil, errors.New("reply holds a different number of results")
	}
	return &out, nil
}
