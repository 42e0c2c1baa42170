package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// handlePayBatch takes many payments in one request, as one log entry per
// zone: a node groups them by the zone that owns each user, applies the
// group of a zone it leads in a single entry, and forwards the others to
// their zones' leaders. Each payment keeps its own idempotency key and gets
// its own result, exactly as a single request would.
func (n *Node) handlePayBatch(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBatchBodyBytes+1))
	if err != nil || len(data) > api.MaxBatchBodyBytes {
		writeError(w, api.Errorf(api.CodePayloadTooLarge, "a batch body is at most %d bytes", api.MaxBatchBodyBytes))
		return
	}
	var req api.BatchRequest
	if err := api.DecodeBytes(data, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	results := make([]api.BatchResult, len(req.Payments))
	byZone := map[string][]int{}
	for i, p := range req.Payments {
		pr := api.PayRequest{Key: p.Key, Amount: p.Amount, Merchant: p.Merchant}
		if err := pr.Validate(); err != nil {
			results[i] = failed(err.(*api.Error))
			continue
		}
		z, _, err := n.routeUser(p.User)
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
			n.payZone(r.Context(), z, hops, req.Payments, idx, results)
		}(z, byZone[z])
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, api.BatchResponse{Results: results})
}

func failed(e *api.Error) api.BatchResult {
	return api.BatchResult{Status: e.Code.HTTPStatus(), Error: e}
}

// payZone settles the payments at idx, all of zone z: in one entry when this
// node leads z, else by forwarding them to z's leader.
func (n *Node) payZone(ctx context.Context, z string, hops int, ps []api.BatchPayment, idx []int, results []api.BatchResult) {
	fail := func(e *api.Error) {
		for _, i := range idx {
			results[i] = failed(e)
		}
	}
	h := n.hostedZone(z)
	if h == nil || !h.voter || !h.rep.IsLeader() {
		if hops >= maxHops {
			fail(api.Errorf(api.CodeUnavailable, "node %s cannot serve zone %s; retry", n.cfg.NodeID, z))
			return
		}
		addr, err := n.zoneLeaderHTTP(ctx, z)
		if err != nil || addr == "" {
			fail(api.Errorf(api.CodeUnavailable, "zone %s has no reachable leader; retry", z))
			return
		}
		sub := api.BatchRequest{Payments: make([]api.BatchPayment, len(idx))}
		for j, i := range idx {
			sub.Payments[j] = ps[i]
		}
		out, err := postBatch(ctx, addr, sub, hops+1)
		if err != nil {
			fail(api.Errorf(api.CodeUnknownOutcome, "forwarded batch to %s: %v; retry with the same keys", addr, err))
			return
		}
		for j, i := range idx {
			results[i] = out.Results[j]
		}
		return
	}
	cmds := make([]fsm.Command, len(idx))
	for j, i := range idx {
		p := ps[i]
		cmds[j] = fsm.Command{Type: fsm.CmdPay, User: p.User, Key: p.Key, Amount: p.Amount, Merchant: p.Merchant}
	}
	res, err := n.applyGated(ctx, h, cmds...)
	if err != nil {
		fail(apiError(err))
		return
	}
	for j, i := range idx {
		if e := n.commandError(cmds[j].User, res[j]); e != nil {
			results[i] = failed(e)
			continue
		}
		results[i] = api.BatchResult{Status: createdStatus(res[j].Replay), Payment: res[j].Payment}
	}
}

func postBatch(ctx context.Context, addr string, req api.BatchRequest, hops int) (*api.BatchResponse, error) {
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/payments/batch", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(HeaderForwarded, strconv.Itoa(hops))
	resp, err := forwardClient.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out api.BatchResponse
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(req.Payments) {
		return nil, errors.New("reply holds a different number of results")
	}
	return &out, nil
}
