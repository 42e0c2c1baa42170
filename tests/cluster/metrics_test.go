package cluster

import "testing"

func TestParseMetrics(t *testing.T) {
	in := []byte(`# HELP rzone_forwarded_requests_total Requests this node forwarded to its leader, by outcome.
# TYPE rzone_forwarded_requests_total counter
rzone_forwarded_requests_total{outcome="ok"} 12
rzone_forwarded_requests_total{outcome="unknown_outcome"} 3
rzone_http_requests_total{code="201",route="POST /v1/accounts/{user}/payments"} 7
rzone_http_requests_total{code="503",route="POST /v1/accounts/{user}/payments"} 2
rzone_http_requests_total{code="200",route="GET /v1/zones"} 5
rzone_lease_remaining_seconds{group="zone/B",role="failover_store"} 2
rzone_lease_remaining_seconds{group="zone/A",role="zone"} -0.25
go_gc_duration_seconds{quantile="0.5"} 1.5e-05 1700000000000
`)
	m, err := ParseMetrics(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sum("rzone_forwarded_requests_total"); got != 15 {
		t.Errorf("forwarded sum %v, want 15", got)
	}
	if got := m.Sum("rzone_http_requests_total", "route=POST /v1/accounts/{user}/payments"); got != 9 {
		t.Errorf("payment requests %v, want 9", got)
	}
	if got := m.Sum("rzone_http_requests_total", "route=POST /v1/accounts/{user}/payments", "code=503"); got != 2 {
		t.Errorf("refused payment requests %v, want 2", got)
	}
	if v, ok := m.Find("rzone_lease_remaining_seconds", "role=zone"); !ok || v != -0.25 {
		t.Errorf("lease remaining %v %v, want -0.25", v, ok)
	}
	if _, ok := m.Find("rzone_lease_remaining_seconds", "role=meta"); ok {
		t.Error("found a series no label matches")
	}
	if by := m.ByLabel("rzone_forwarded_requests_total", "outcome"); by["ok"] != 12 || by["unknown_outcome"] != 3 || len(by) != 2 {
		t.Errorf("by outcome %v", by)
	}
	if v := m.Sum("go_gc_duration_seconds"); v != 1.5e-05 {
		t.Errorf("value before a timestamp: %v", v)
	}
	if _, err := ParseMetrics([]byte("rzone_x{a=\"b\"}\n")); err == nil {
		t.Error("a series without a value parsed")
	}
}

func TestCheckZones(t *testing.T) {
	cfg := Config{Zones: []string{"A", "B", "C"}}
	if err := checkZones(&cfg); err != nil || cfg.Nodes != 9 || cfg.NodesPerZone != 3 {
		t.Fatalf("3 zones: %v, %d nodes, %d per zone", err, cfg.Nodes, cfg.NodesPerZone)
	}
	for _, bad := range []Config{
		{Zones: []string{"A", "A"}},
		{Zones: []string{"A", ""}},
		{Zones: []string{"A,B"}},
		{Zones: []string{"A", "B"}, NodesPerZone: 17},
	} {
		if err := checkZones(&bad); err == nil {
			t.Errorf("%v × %d accepted", bad.Zones, bad.NodesPerZone)
		}
	}
	if a, b := nodeUID(7, 8, 9), nodeUID(8, 0, 9); a == b {
		t.Errorf("clusters 7 and 8 share uid %d", a)
	}
	if nodeUID(7, 2, 3) != 200000+7*8+2 {
		t.Errorf("small clusters changed their users")
	}
}
