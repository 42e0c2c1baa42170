package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// fakeNode answers /v1/zones, /v1/members and /metrics as a node would:
// each /metrics scrape shows 5 more decided payments (3 ok, 2 declined)
// and 10 more applies, 8 within 2 ms and 2 within 64 ms. It wants the
// token "s3cret", as a node with security on would.
type fakeNode struct {
	srv     *httptest.Server
	scrapes atomic.Int64
}

func newFakeNode(t *testing.T) *fakeNode {
	f := &fakeNode{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/zones", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, api.ZoneList{Zones: []api.ZoneStatus{
			{Zone: "A", Followers: []api.ReplicaState{{Node: "b1", LagEntries: 7, LastContactMs: ms(40)}, {Node: "c1", LagEntries: 2, LastContactMs: ms(90)}}},
			{Zone: "B"},
		}})
	})
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
		addr := strings.TrimPrefix(f.srv.URL, "http://")
		writeJSON(w, api.MemberList{Members: []api.MemberInfo{
			{ID: "a1", HTTPAddr: addr, State: "alive"},
			{ID: "b1", HTTPAddr: "127.0.0.1:1", State: "dead"}, // not scraped
		}})
	})
	mux.HandleFunc("GET /v1/runs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, api.RunList{Runs: []api.Run{{ID: 7, State: "running", Limit: 4}, {ID: 6, State: "done", Limit: 9}}})
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		n := f.scrapes.Add(1)
		fmt.Fprintf(w, "# TYPE rzone_command_results_total counter\n")
		fmt.Fprintf(w, "rzone_command_results_total{cmd=\"pay\",result=\"ok\"} %d\n", 3*n)
		fmt.Fprintf(w, "rzone_command_results_total{cmd=\"pay\",result=\"declined\"} %d\n", 2*n)
		fmt.Fprintf(w, "rzone_command_results_total{cmd=\"repay\",result=\"ok\"} %d\n", 100*n)
		fmt.Fprintf(w, "# TYPE rzone_raft_apply_duration_seconds histogram\n")
		fmt.Fprintf(w, "rzone_raft_apply_duration_seconds_bucket{cmd=\"pay\",le=\"0.002\"} %d\n", 8*n)
		fmt.Fprintf(w, "rzone_raft_apply_duration_seconds_bucket{cmd=\"pay\",le=\"0.064\"} %d\n", 10*n)
		fmt.Fprintf(w, "rzone_raft_apply_duration_seconds_bucket{cmd=\"pay\",le=\"+Inf\"} %d\n", 10*n)
		fmt.Fprintf(w, "rzone_raft_apply_duration_seconds_sum{cmd=\"pay\"} 1\n")
		fmt.Fprintf(w, "rzone_raft_apply_duration_seconds_count{cmd=\"pay\"} %d\n", 10*n)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "token wanted", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// TestSamplerDerivesRatesLatencyAndLag takes samples against a fake node
// and checks the derived point: payments/s from the pay results only,
// apply latency quantiles from the histogram's increase, and each zone's
// worst follower lag, the limit of each running batch run; and that the
// ring keeps only its window. The
// sampler asks with the token of the console request that started it.
func TestSamplerDerivesRatesLatencyAndLag(t *testing.T) {
	f := newFakeNode(t)
	s := newSampler(strings.TrimPrefix(f.srv.URL, "http://"), nil, 3*interval)
	clock := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return clock }
	s.use("Bearer s3cret")

	if err := s.sample(); err != nil {
		t.Fatal(err)
	}
	if got := s.series().Points; len(got) != 0 {
		t.Fatalf("a first sample has no rate, got points %+v", got)
	}
	clock = clock.Add(2 * time.Second)
	if err := s.sample(); err != nil {
		t.Fatal(err)
	}
	got := s.series()
	if len(got.Points) != 1 || strings.Join(got.Zones, ",") != "A,B" {
		t.Fatalf("series after two samples: %+v", got)
	}
	p := got.Points[0]
	if p.PaymentsPerS != 2.5 { // 5 decided payments in 2 s
		t.Errorf("payments/s %v, want 2.5", p.PaymentsPerS)
	}
	// 10 applies: 8 at most 2 ms, 2 in (2, 64] ms. p50 is the 5th: inside
	// the first bucket, 5/8 of the way; p99 the 9.9th: in the second.
	if p.ApplyP50Ms == nil || *p.ApplyP50Ms != 1.25 {
		t.Errorf("p50 %v, want 1.25 ms", p.ApplyP50Ms)
	}
	if p.ApplyP99Ms == nil || *p.ApplyP99Ms <= 2 || *p.ApplyP99Ms > 64 {
		t.Errorf("p99 %v, want within (2, 64] ms", p.ApplyP99Ms)
	}
	if p.Lag["A"] != (ZoneLag{Entries: 7, Ms: 90}) || p.Lag["B"] != (ZoneLag{}) {
		t.Errorf("lag %+v, want A the worst of its followers and B none", p.Lag)
	}
	if len(p.Limits) != 1 || p.Limits["7"] != 4 {
		t.Errorf("limits %v, want run 7's 4 only (run 6 is done)", p.Limits)
	}
	for i := 0; i < 5; i++ {
		clock = clock.Add(time.Second)
		if err := s.sample(); err != nil {
			t.Fatal(err)
		}
	}
	pts := s.series().Points
	if len(pts) != 3 || pts[2].T != clock.UnixMilli() || pts[2].PaymentsPerS != 5 {
		t.Fatalf("ring of a 3 s window after 7 samples: %+v", pts)
	}
}

// TestQuantileWithoutObservations: a second without applies has no
// latency, rather than a zero that would read as fast.
func TestQuantileWithoutObservations(t *testing.T) {
	if q := quantileMs(map[float64]float64{0.001: 0, 0.002: 0}, 0.5); q != nil {
		t.Fatalf("quantile of nothing: %v, want nil", *q)
	}
	if q := quantileMs(nil, 0.5); q != nil {
		t.Fatalf("quantile of no buckets: %v, want nil", *q)
	}
}

// TestServesEmbeddedPagesAndSeries: /ui/ serves the embedded page and its
// script, uncached; /ui redirects; /v1/ui/series answers JSON.
func TestServesEmbeddedPagesAndSeries(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/ui/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<script src="app.js">`) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("/ui/: %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	if resp, body = get("/ui/app.js"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "/v1/ui/series") {
		t.Fatalf("/ui/app.js: %d", resp.StatusCode)
	}
	if resp, _ = get("/ui"); resp.Request.URL.Path != "/ui/" {
		t.Fatalf("/ui led to %s", resp.Request.URL.Path)
	}
	resp, body = get("/v1/ui/series")
	var s Series
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil || s.IntervalMs != 1000 {
		t.Fatalf("/v1/ui/series: %d %s", resp.StatusCode, body)
	}
}

func ms(v int64) *int64 { return &v }
