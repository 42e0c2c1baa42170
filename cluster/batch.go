package cluster

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
)

// BatchKind is what one batch endpoint adds to ApplyBatch: its path (to
// forward a zone's share), how to read the body, and, per item, its user,
// its own validation, its command and the result of a command that
// succeeded.
type BatchKind[T any] struct {
	path   string
	decode func(data []byte) ([]T, error)
	wrap   func(share []T) any
	user   func(T) uint64
	check  func(T) error
	cmd    func(T) fsm.Command
	ok     func(fsm.Result) api.BatchResult
}

// Decode reads a batch request's body into its items; the error is an
// *api.Error.
func (k BatchKind[T]) Decode(data []byte) ([]T, error) { return k.decode(data) }

// PayBatch is POST /v1/payments/batch: many payments, each with its own
// idempotency key and its own result, exactly as a single request would.
var PayBatch = BatchKind[api.BatchPayment]{
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
		return api.BatchResult{Status: api.CreatedStatus(r.Replay), Payment: r.Payment}
	},
}

// AccountBatch is POST /v1/accounts/batch: many accounts created (or
// their limits set), each with the result a single PUT would have got.
var AccountBatch = BatchKind[api.BatchAccount]{
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

// ApplyBatch settles the items of a batch request that was forwarded hops
// times: it groups them by the zone that owns each user, applies the group
// of a zone this node leads in a single entry, and forwards the others to
// their zones' leaders. It returns one result per item, in order.
func ApplyBatch[T any](m *Member, ctx context.Context, k BatchKind[T], items []T, hops int) []api.BatchResult {
	results := make([]api.BatchResult, len(items))
	byZone := map[string][]int{}
	for i, it := range items {
		if err := k.check(it); err != nil {
			results[i] = failed(err.(*api.Error))
			continue
		}
		z, _, err := m.Route(k.user(it))
		if err != nil {
			results[i] = failed(APIError(err))
			continue
		}
		byZone[z] = append(byZone[z], i)
	}
	zones := make([]string, 0, len(byZone))
	for z := range byZone {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	var wg sync.WaitGroup
	for _, z := range zones {
		wg.Add(1)
		go func(z string, idx []int) {
			defer wg.Done()
			zoneBatch(m, ctx, k, z, hops, items, idx, results)
		}(z, byZone[z])
	}
	wg.Wait()
	return results
}

func failed(e *api.Error) api.BatchResult {
	return api.BatchResult{Status: e.Code.HTTPStatus(), Error: e}
}

// zoneBatch settles the items at idx, all of zone z: in one entry when this
// node leads z, else by forwarding them to z's leader.
func zoneBatch[T any](m *Member, ctx context.Context, k BatchKind[T], z string, hops int, items []T, idx []int, results []api.BatchResult) {
	fail := func(e *api.Error) {
		for _, i := range idx {
			results[i] = failed(e)
		}
	}
	h := m.leading(z)
	if h == nil {
		if hops >= MaxHops {
			fail(api.Errorf(api.CodeUnavailable, "node %s cannot serve zone %s; retry", m.cfg.NodeID, z))
			return
		}
		addr, err := m.ZoneLeader(ctx, z)
		if err != nil || addr == "" {
			fail(api.Errorf(api.CodeUnavailable, "zone %s has no reachable leader; retry", z))
			return
		}
		share := make([]T, len(idx))
		for j, i := range idx {
			share[j] = items[i]
		}
		out, err := m.postBatch(ctx, addr, k.path, k.wrap(share), len(share), hops+1)
		if err != nil {
			fail(forwardError(addr, err))
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
	res, err := m.host.Zones().ApplyGated(ctx, h, cmds...)
	if err != nil {
		fail(APIError(err))
		return
	}
	for j, i := range idx {
		if e := m.CommandError(cmds[j].User, res[j]); e != nil {
			results[i] = failed(e)
			continue
		}
		results[i] = k.ok(res[j])
	}
}

// forwardError is each item's error when a zone's share could not be
// forwarded to addr: unavailable when it provably never got there (a
// refused connection), the other node's own refusal of the whole share as
// it gave it, else unknown (it may have been applied).
func forwardError(addr string, err error) *api.Error {
	var ae *api.Error
	switch {
	case errors.Is(err, peer.ErrNotApplied):
		return api.Errorf(api.CodeUnavailable, "batch not forwarded to %s: %v; retry", addr, err)
	case errors.As(err, &ae):
		return ae
	}
	return api.Errorf(api.CodeUnknownOutcome, "forwarded batch to %s: %v; retry (a batch is idempotent item by item)", addr, err)
}

// postBatch forwards a batch of count items to another node, waiting as
// long as a single request forwarded (Config.ForwardTimeout).
func (m *Member) postBatch(ctx context.Context, addr, path string, req any, count, hops int) (*api.BatchResponse, error) {
	var out api.BatchResponse
	if err := m.cfg.Peer.PostJSON(ctx, addr, path, req, &out, peer.Hops(hops), peer.Timeout(m.cfg.ForwardTimeout)); err != nil {
		return nil, err
	}
	if len(out.Results) != count {
		return nil, errors.New("reply holds a different number of results")
	}
	return &out, nil
}
