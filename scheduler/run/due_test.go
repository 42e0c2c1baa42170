package run

import (
	"math"
	"testing"

	"github.com/rzonedb/rzone/fsm"
)

// TestDueQuery: a query reads back as Values encodes it; a missing or
// malformed field, a shard out of range and a limit below 1 are refused.
func TestDueQuery(t *testing.T) {
	q := DueQuery{Group: "A", Shard: fsm.NumShards - 1, Cycle: 202611, From: 5, Hi: math.MaxUint64, Limit: 100}
	got, err := ParseDueQuery(q.Values())
	if err != nil || got != q {
		t.Fatalf("read back %+v, %v; want %+v", got, err, q)
	}
	for field, bad := range map[string]string{"shard": "-1", "cycle": "2026", "from": "x", "hi": "", "limit": "0"} {
		v := q.Values()
		v.Set(field, bad)
		if _, err := ParseDueQuery(v); err == nil {
			t.Errorf("%s=%q accepted", field, bad)
		}
	}
	v := q.Values()
	v.Set("shard", "0")
	v.Del("group")
	if got, err := ParseDueQuery(v); err != nil || got.Group != "" || got.Shard != 0 {
		t.Fatalf("no group, shard 0: %+v, %v", got, err)
	}
	bad := q.Values()
	bad.Set("shard", "100000")
	if _, err := ParseDueQuery(bad); err == nil {
		t.Error("a shard past NumShards accepted")
	}
}

// TestEffectsRequestValidate: 1 to MaxEffectsUsers users pass.
func TestEffectsRequestValidate(t *testing.T) {
	for n, ok := range map[int]bool{0: false, 1: true, MaxEffectsUsers: true, MaxEffectsUsers + 1: false} {
		r := EffectsRequest{Users: make([]uint64, n)}
		if err := r.Validate(); (err == nil) != ok {
			t.Errorf("%d users: %v", n, err)
		}
	}
}
