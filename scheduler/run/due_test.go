package run

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
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

	// count: "0" or "1"; absent (a node that predates it) asks for one.
	counted := q
	counted.Count = true
	if v := counted.Values(); v.Get("count") != "1" {
		t.Fatalf("a counted query encodes count=%q", v.Get("count"))
	}
	if v := q.Values(); v.Get("count") != "0" {
		t.Fatalf("a query without count encodes count=%q", v.Get("count"))
	}
	if got, err := ParseDueQuery(counted.Values()); err != nil || got != counted {
		t.Fatalf("count=1 read back %+v, %v", got, err)
	}
	v = q.Values()
	v.Del("count")
	if got, err := ParseDueQuery(v); err != nil || !got.Count {
		t.Fatalf("no count parameter: %+v, %v; want a counted query", got, err)
	}
	for _, c := range [][]string{{"true"}, {""}, {"2"}, {"0", "1"}} {
		v := q.Values()
		v["count"] = c
		if _, err := ParseDueQuery(v); err == nil || err.Code != api.CodeInvalidArgument {
			t.Errorf("count=%q: %v, want invalid_argument", c, err)
		}
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

// dueHost is a fakeHost whose zone leader serves GET PathDue over the due
// users of one shard, as ReadDue does (a count only when asked, unless old:
// a node that predates the count parameter and always counts), cutting the
// pages whose number (from 0) is in cut one user short. It records the
// query parameter count of every read.
type dueHost struct {
	fakeHost
	users  []uint64
	old    bool
	cut    map[int]bool
	counts []string
}

func (h *dueHost) ZoneLeaderAddr(context.Context, string) (string, error) { return "zone-leader", nil }

func (h *dueHost) GetJSON(_ context.Context, _, path string, reply any) error {
	raw, ok := strings.CutPrefix(path, PathDue+"?")
	if !ok {
		return fmt.Errorf("unexpected path %s", path)
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return err
	}
	q, aerr := ParseDueQuery(v)
	if aerr != nil {
		return aerr
	}
	h.counts = append(h.counts, v.Get("count"))
	page := DuePage{Count: NoCount}
	if q.Count || h.old {
		page.Count = int64(len(h.users))
	}
	for _, u := range h.users {
		if u >= q.From && u <= q.Hi && len(page.Users) < q.Limit {
			page.Users = append(page.Users, u)
		}
	}
	if h.cut[len(h.counts)-1] && len(page.Users) > 0 {
		page.Users = page.Users[:len(page.Users)-1]
	}
	*reply.(*DuePage) = page
	return nil
}

// shardUsers is n users of shard 3.
func shardUsers(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(3 + i*fsm.NumShards)
	}
	return out
}

// TestTaskLoadAsksNoCount: a task's load asks the zone for no count
// (count=0) on every page, takes the users of a node that sends one
// anyway, and still refuses a load shorter than the task.
func TestTaskLoadAsksNoCount(t *testing.T) {
	users := shardUsers(10)
	g := fsm.Grant{Cycle: 202611, Task: fsm.Task{ID: 1, Shard: 3, Lo: users[2], Hi: users[8], Users: 7}}
	for _, old := range []bool{false, true} {
		h := &dueHost{fakeHost: fakeHost{reg: prometheus.NewRegistry()}, users: users, old: old}
		s := New(h, Config{PageUsers: 3})
		got, err := s.taskUsers(context.Background(), "A", g)
		if err != nil || !slices.Equal(got, users[2:9]) {
			t.Fatalf("old node %v: loaded %v, %v; want %v", old, got, err, users[2:9])
		}
		if want := []string{"0", "0", "0"}; !slices.Equal(h.counts, want) {
			t.Fatalf("old node %v: the pages asked count=%q, want %q", old, h.counts, want)
		}
	}
	h := &dueHost{fakeHost: fakeHost{reg: prometheus.NewRegistry()}, users: users, cut: map[int]bool{1: true}}
	s := New(h, Config{PageUsers: 3})
	if got, err := s.taskUsers(context.Background(), "A", g); !isMismatch(err) {
		t.Fatalf("a page cut short: loaded %v, %v; want a mismatch", got, err)
	}
}

// TestGenerationLoadCounts: generation's load of a whole shard asks every
// page for the count (count=1) and checks it got as many users, over
// several pages too: a later page cut short, or a zone that sends no
// count, fails the load.
func TestGenerationLoadCounts(t *testing.T) {
	users := shardUsers(5)
	load := func(h *dueHost) ([]uint64, error) {
		return New(h, Config{PageUsers: 2}).loadDue(context.Background(), "A", 3, 202611, 0, math.MaxUint64, 2)
	}
	h := &dueHost{fakeHost: fakeHost{reg: prometheus.NewRegistry()}, users: users}
	got, err := load(h)
	if err != nil || !slices.Equal(got, users) {
		t.Fatalf("loaded %v, %v; want %v", got, err, users)
	}
	if want := []string{"1", "1", "1"}; !slices.Equal(h.counts, want) {
		t.Fatalf("the pages asked count=%q, want %q", h.counts, want)
	}
	for page := 0; page < 3; page++ {
		h := &dueHost{fakeHost: fakeHost{reg: prometheus.NewRegistry()}, users: users, cut: map[int]bool{page: true}}
		if got, err := load(h); !isMismatch(err) {
			t.Errorf("page %d cut short: loaded %v, %v; want a mismatch", page, got, err)
		}
	}
	// A zone that ignored the ask for a count (or lost it): no count to
	// check against is a failed attempt, not a pass.
	h = &dueHost{fakeHost: fakeHost{reg: prometheus.NewRegistry()}, users: users}
	nocount := &noCountHost{h}
	if got, err := New(nocount, Config{}).loadDue(context.Background(), "A", 3, 202611, 0, math.MaxUint64, 2); !isMismatch(err) {
		t.Fatalf("no count: loaded %v, %v; want a mismatch", got, err)
	}
}

// noCountHost is a dueHost whose zone never sends a count.
type noCountHost struct{ *dueHost }

func (h *noCountHost) GetJSON(ctx context.Context, addr, path string, reply any) error {
	err := h.dueHost.GetJSON(ctx, addr, path, reply)
	reply.(*DuePage).Count = NoCount
	return err
}
