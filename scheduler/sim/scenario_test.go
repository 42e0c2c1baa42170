package sim

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultsLoad(t *testing.T) {
	ss, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
	}
	want := "A1 A2 B B-3M-users B-150M-users B-20-machines B-100-machines"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("default scenarios %q, want %q", got, want)
	}
}

func TestLoadJSON(t *testing.T) {
	s, err := Load("testdata/small-b.json")
	if err != nil {
		t.Fatal(err)
	}
	if s.Pool == nil || s.Pool.Users != 1_000_000 || s.Pool.PauseMean.Seconds() != 120 || len(s.Pool.Churn) != 2 {
		t.Errorf("small-b.json read as %+v", s.Pool)
	}
	if st := s.Strategy("rzone"); st == nil || st.Smart == nil || st.Smart.Factor != 2 {
		t.Errorf("rzone strategy %+v: want the smart slicer with its default factor", st)
	}
}

func TestParseRejects(t *testing.T) {
	base := `
name: X
pool: {users: 10, user_cost: 50ms, slice_overhead: 0s, machines: 1, slots: 1, slow_speed: 1,
       lease_ttl: 60s, renew_every: 20s, max_duration: 1h}
strategies: [{name: a, slice_users: 5}]
`
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", base + "colour: blue\n", "colour"},
		{"both models", base + "channel: {calls: 1}\n", "exactly one of channel and pool"},
		{"limit in a pool", strings.Replace(base, "slice_users: 5", "fixed: 5", 1), "limit fields in a pool"},
		{"baseline not a strategy", base + "baseline: b\n", "not a strategy"},
		{"renew not under ttl", strings.Replace(base, "renew_every: 20s", "renew_every: 60s", 1), "renew_every"},
		{"duration as a number", strings.Replace(base, "user_cost: 50ms", "user_cost: 50", 1), "time.Duration"},
		{"bad headline", base + "headline: speed\nbaseline: a\ncandidate: a\n", "headline"},
	}
	if _, err := Parse([]byte(base), "base"); err != nil {
		t.Fatalf("base scenario: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), tt.name)
			if !errors.Is(err, ErrScenario) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want ErrScenario mentioning %q", err, tt.want)
			}
		})
	}
}
