package client

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// Batch types.
type (
	BatchPayment = api.BatchPayment
	BatchResult  = api.BatchResult
)

// MaxBatch is the most payments PayBatch sends in one request.
const MaxBatch = api.MaxBatch

// PayBatch makes many payments at once: each is settled as if sent alone
// (its own key, its own result, at the same position), but the server books
// a whole zone's share in one log entry. The client sends each zone's share
// straight to that zone's leader when it knows the routes, and retries, with
// the same keys, the payments whose result is retryable; their last result
// stands when the retries run out. The error is for the call as a whole
// (bad request, context ended); per-payment refusals are in the results.
func (c *Client) PayBatch(ctx context.Context, ps []BatchPayment) ([]BatchResult, error) {
	results := make([]BatchResult, len(ps))
	pending := make([]int, len(ps))
	for i := range ps {
		pending[i] = i
	}
	delay := c.backoff
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return results, ctx.Err()
			case <-time.After(delay/2 + rand.N(delay/2+1)):
			}
			delay = min(2*delay, c.maxBackoff)
		}
		groups := c.groupByZone(ctx, ps, pending)
		var mu sync.Mutex
		var firstErr error
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Add(1)
			go func(g []int) {
				defer wg.Done()
				sub := api.BatchRequest{Payments: make([]BatchPayment, len(g))}
				for j, i := range g {
					sub.Payments[j] = ps[i]
				}
				var out api.BatchResponse
				u := ps[g[0]].User
				_, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/payments/batch", body: sub, out: &out, write: true, user: &u})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					e, ok := err.(*Error)
					if !ok || !e.Code.Retryable() {
						firstErr = err
						return
					}
					for _, i := range g {
						results[i] = BatchResult{Status: e.Status, Error: &api.Error{Code: e.Code, Message: e.Message}}
					}
					return
				}
				for j, i := range g {
					results[i] = out.Results[j]
				}
			}(g)
		}
		wg.Wait()
		if firstErr != nil {
			return results, firstErr
		}
		var next []int
		for _, i := range pending {
			if e := results[i].Error; e != nil && e.Code.Retryable() {
				if e.Code == api.CodeWrongZone {
					c.forgetRoutes()
				}
				next = append(next, i)
			}
		}
		if attempt >= c.maxRetries {
			break
		}
		pending = next
	}
	return results, nil
}

// groupByZone splits the payments at idx by the zone of their user, from the
// cached routes; without routes they form one group.
func (c *Client) groupByZone(ctx context.Context, ps []BatchPayment, idx []int) [][]int {
	if !c.noRouting {
		c.ensureRoutes(ctx)
	}
	c.mu.Lock()
	rt := c.routes
	c.mu.Unlock()
	if rt == nil || len(rt.Shards) == 0 {
		return [][]int{idx}
	}
	byZone := map[string][]int{}
	var order []string
	for _, i := range idx {
		z := rt.Shards[ps[i].User%uint64(len(rt.Shards))].Zone
		if _, ok := byZone[z]; !ok {
			order = append(order, z)
		}
		byZone[z] = append(byZone[z], i)
	}
	out := make([][]int, 0, len(order))
	for _, z := range order {
		out = append(out, byZone[z])
	}
	return out
}
