package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// batchServer routes even users' shards to zone A and odd users' to zone B,
// both served here. A share with an odd user is refused as a whole with
// refuse (a non-retryable error); with cut set, every batch is taken and
// its connection closed without a reply.
func batchServer(t *testing.T, refuse api.Code, cut bool) string {
	t.Helper()
	var addr string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/routes" {
			rt := api.RouteTable{Epoch: 1, Zones: []api.ZoneRoute{
				{Zone: "A", LeaderHTTP: addr, Nodes: []string{addr}},
				{Zone: "B", LeaderHTTP: addr, Nodes: []string{addr}},
			}}
			for s := 0; s < 100; s++ {
				rt.Shards = append(rt.Shards, api.ShardRoute{Shard: s, Zone: map[bool]string{true: "A", false: "B"}[s%2 == 0], Epoch: 1})
			}
			json.NewEncoder(w).Encode(rt)
			return
		}
		if cut {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		var req api.BatchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("decode batch: %v", err)
		}
		var out api.BatchResponse
		for _, p := range req.Payments {
			if p.User%2 == 1 {
				w.WriteHeader(refuse.HTTPStatus())
				json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Errorf(refuse, "refused as a whole")})
				return
			}
			out.Results = append(out.Results, api.BatchResult{Status: http.StatusCreated})
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(hs.Close)
	addr = strings.TrimPrefix(hs.URL, "http://")
	return addr
}

// TestPayBatchEveryResultHasAStatus: a zone's share that meets an error
// for the share as a whole, refused or with its reply lost, still gives
// each of its items a result with a status and the error, beside the other
// zone's answered items.
func TestPayBatchEveryResultHasAStatus(t *testing.T) {
	ps := []BatchPayment{{User: 2, Key: "a", Amount: 1}, {User: 3, Key: "b", Amount: 1}, {User: 4, Key: "c", Amount: 1}, {User: 5, Key: "d", Amount: 1}}
	for _, tc := range []struct {
		name    string
		refuse  api.Code
		cut     bool
		wantErr bool
		want    []int
	}{
		{name: "share refused as a whole", refuse: api.CodeInvalidArgument, wantErr: true, want: []int{201, 400, 201, 400}},
		{name: "share too large", refuse: api.CodePayloadTooLarge, wantErr: true, want: []int{201, 413, 201, 413}},
		{name: "replies lost", cut: true, want: []int{503, 503, 503, 503}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New([]string{batchServer(t, tc.refuse, tc.cut)}, WithMaxRetries(0), WithBackoff(time.Millisecond, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.PayBatch(context.Background(), ps)
			if (err != nil) != tc.wantErr {
				t.Errorf("error %v, want one: %v", err, tc.wantErr)
			}
			if len(res) != len(ps) {
				t.Fatalf("%d results for %d payments", len(res), len(ps))
			}
			for i, r := range res {
				if r.Status != tc.want[i] {
					t.Errorf("payment %d (user %d): status %d, want %d (error %v)", i, ps[i].User, r.Status, tc.want[i], r.Error)
				}
				if r.Status >= 300 && r.Error == nil {
					t.Errorf("payment %d: status %d without an error", i, r.Status)
				}
			}
		})
	}
}
