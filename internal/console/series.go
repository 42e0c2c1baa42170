package console

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
)

const (
	// defaultWindow is how much history /v1/ui/series keeps.
	defaultWindow = 10 * time.Minute
	// interval is the sampling period.
	interval = time.Second
	// idleStop stops a sampler no console has asked anything of for this
	// long; the next console request starts a new one.
	idleStop = defaultWindow
	// failStop stops a sampler whose own node stopped answering.
	failStop = 10
	// runRunning is the state of a batch run under way (api.Run.State).
	runRunning = "running"
)

// Series is the reply of GET /v1/ui/series: one point a second, oldest
// first.
type Series struct {
	IntervalMs int64    `json:"interval_ms"`
	Zones      []string `json:"zones"`
	Points     []Point  `json:"points"`
}

// Point is one second of the cluster as the sampling node saw it.
// Latencies are nil in a second without an apply.
type Point struct {
	T            int64              `json:"t"` // Unix milliseconds
	PaymentsPerS float64            `json:"payments_per_s"`
	ApplyP50Ms   *float64           `json:"apply_p50_ms"`
	ApplyP99Ms   *float64           `json:"apply_p99_ms"`
	Lag          map[string]ZoneLag `json:"lag"`
	// Limits is the concurrency limit in force of each running batch
	// run, by run id.
	Limits map[string]int `json:"limits,omitempty"`
}

// ZoneLag is the largest lag of a zone's async followers.
type ZoneLag struct {
	Entries uint64 `json:"entries"`
	Ms      int64  `json:"ms"`
}

// scrape is one node's counters at one moment.
type scrape struct {
	payments float64
	buckets  map[float64]float64 // apply latency: upper bound (s) -> cumulative count
}

// sampler asks its node once a second for the zones and members, scrapes
// every member's /metrics, and keeps the derived points in a ring.
type sampler struct {
	self   string
	peers  Peers
	window int

	mu       sync.Mutex
	ring     []Point
	zones    []string
	lastUse  time.Time
	auth     string // the Authorization header of the latest console request
	done     bool
	previous map[string]scrape // by member API address
	prevAt   time.Time
	now      func() time.Time
}

func newSampler(self string, peers Peers, window time.Duration) *sampler {
	if peers == nil {
		peers = peer.NewClient(nil) // plain HTTP: an open cluster, tests
	}
	return &sampler{self: self, peers: peers,
		window: int(window / interval), previous: map[string]scrape{}, lastUse: time.Now(), now: time.Now}
}

// use marks the sampler in use by a console request and takes the
// request's credentials for its own requests to the cluster, so that it
// samples with the token the console was given when security is on.
func (s *sampler) use(authorization string) {
	s.mu.Lock()
	s.lastUse = time.Now()
	s.auth = authorization
	s.mu.Unlock()
}

// get sends a GET with the console's credentials.
func (s *sampler) get(ctx context.Context, addr, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.peers.URL(addr, path), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	s.mu.Lock()
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	s.mu.Unlock()
	resp, err := s.peers.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s%s: status %d", addr, path, resp.StatusCode)
	}
	return resp, nil
}

func (s *sampler) stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (s *sampler) series() Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Series{IntervalMs: interval.Milliseconds(), Zones: append([]string{}, s.zones...), Points: append([]Point{}, s.ring...)}
}

func (s *sampler) run() {
	t := time.NewTicker(interval)
	defer t.Stop()
	fails := 0
	for range t.C {
		s.mu.Lock()
		idle := time.Since(s.lastUse) > idleStop
		s.mu.Unlock()
		if idle || fails >= failStop {
			s.mu.Lock()
			s.done = true
			s.mu.Unlock()
			return
		}
		if err := s.sample(); err != nil {
			fails++
			continue
		}
		fails = 0
	}
}

// sample takes one point.
func (s *sampler) sample() error {
	ctx, cancel := context.WithTimeout(context.Background(), interval)
	defer cancel()
	var zl api.ZoneList
	if err := s.getJSON(ctx, s.self, "/v1/zones", &zl); err != nil {
		return err
	}
	var ml api.MemberList
	if err := s.getJSON(ctx, s.self, "/v1/members", &ml); err != nil {
		return err
	}
	var rl api.RunList
	if err := s.getJSON(ctx, s.self, "/v1/runs", &rl); err != nil {
		return err
	}
	now := s.now()
	p := Point{T: now.UnixMilli(), Lag: map[string]ZoneLag{}}
	for _, r := range rl.Runs {
		if r.State == runRunning {
			if p.Limits == nil {
				p.Limits = map[string]int{}
			}
			p.Limits[strconv.FormatUint(r.ID, 10)] = r.Limit
		}
	}
	var zones []string
	for _, z := range zl.Zones {
		zones = append(zones, z.Zone)
		var lag ZoneLag
		for _, f := range z.Followers {
			lag.Entries = max(lag.Entries, f.LagEntries)
			if f.LastContactMs != nil {
				lag.Ms = max(lag.Ms, *f.LastContactMs)
			}
		}
		p.Lag[z.Zone] = lag
	}

	var addrs []string
	for _, m := range ml.Members {
		if m.State == "alive" && m.HTTPAddr != "" {
			addrs = append(addrs, m.HTTPAddr)
		}
	}
	sort.Strings(addrs)
	scrapes := make([]*scrape, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sc, err := s.scrape(ctx, a); err == nil {
				scrapes[i] = sc
			}
		}()
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	var payments float64
	delta := map[float64]float64{}
	next := map[string]scrape{}
	for i, a := range addrs {
		sc := scrapes[i]
		if sc == nil {
			continue
		}
		next[a] = *sc
		prev, ok := s.previous[a]
		if !ok || sc.payments < prev.payments {
			continue // first sight of the node, or it restarted
		}
		payments += sc.payments - prev.payments
		for le, c := range sc.buckets {
			delta[le] += c - prev.buckets[le]
		}
	}
	first, elapsed := len(s.previous) == 0, now.Sub(s.prevAt).Seconds()
	s.previous, s.prevAt = next, now
	if first || elapsed <= 0 {
		return nil // rates need two samples
	}
	p.PaymentsPerS = payments / elapsed
	p.ApplyP50Ms = quantileMs(delta, 0.50)
	p.ApplyP99Ms = quantileMs(delta, 0.99)
	s.zones = zones
	s.ring = append(s.ring, p)
	if len(s.ring) > s.window {
		s.ring = append(s.ring[:0], s.ring[len(s.ring)-s.window:]...)
	}
	return nil
}

func (s *sampler) getJSON(ctx context.Context, addr, path string, out any) error {
	resp, err := s.get(ctx, addr, path, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// scrape reads a node's decided payments and apply-latency histogram
// (all commands together) from its /metrics.
func (s *sampler) scrape(ctx context.Context, addr string) (*scrape, error) {
	resp, err := s.get(ctx, addr, "/metrics", "text/plain")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	return fromFamilies(families), nil
}

// fromFamilies picks the console's figures out of parsed metrics.
func fromFamilies(families map[string]*dto.MetricFamily) *scrape {
	sc := &scrape{buckets: map[float64]float64{}}
	if f := families["rzone_command_results_total"]; f != nil {
		for _, m := range f.Metric {
			if label(m, "cmd") == "pay" {
				sc.payments += m.GetCounter().GetValue()
			}
		}
	}
	if f := families["rzone_raft_apply_duration_seconds"]; f != nil {
		for _, m := range f.Metric {
			for _, b := range m.GetHistogram().GetBucket() {
				sc.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			}
		}
	}
	return sc
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// quantileMs estimates quantile q, in milliseconds, from cumulative bucket
// counts by interpolating inside the bucket that holds it, as Prometheus's
// histogram_quantile does. It answers nil when nothing was observed.
func quantileMs(buckets map[float64]float64, q float64) *float64 {
	bounds := make([]float64, 0, len(buckets))
	for le := range buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return nil
	}
	total := buckets[bounds[len(bounds)-1]]
	if total <= 0 {
		return nil
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		c := buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				v := lower * 1000 // beyond the last finite bound: its bound
				return &v
			}
			v := (lower + (le-lower)*(rank-below)/math.Max(c-below, 1e-9)) * 1000
			return &v
		}
		lower, below = le, c
	}
	v := lower * 1000
	return &v
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
