package zone

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	imetrics "github.com/rzonedb/rzone/internal/metrics"
)

func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if pb.Counter != nil {
		return pb.Counter.GetValue()
	}
	return pb.Gauge.GetValue()
}

// TestSnapshotMetrics: a snapshot closed twice (by Persist, then by raft)
// counts once, with its size; a canceled one counts as canceled.
func TestSnapshotMetrics(t *testing.T) {
	files, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), 2, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	m.open("zone/A")
	s := timedSnapshots{SnapshotStore: files, m: m, group: "zone/A"}
	_, trans := raft.NewInmemTransport("a1")
	sink, err := s.Create(raft.SnapshotVersionMax, 10, 1, raft.Configuration{}, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	sink.Write(make([]byte, 1000))
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	sink.Close()
	sink, _ = s.Create(raft.SnapshotVersionMax, 20, 1, raft.Configuration{}, 1, trans)
	sink.Cancel()
	for outcome, want := range map[string]float64{"ok": 1, "canceled": 1, "failed": 0} {
		if got := value(t, m.snapshots.WithLabelValues("zone/A", outcome)); got != want {
			t.Errorf("%s snapshots %v, want %v", outcome, got, want)
		}
	}
	if got := value(t, m.snapshotBytes.WithLabelValues("zone/A")); got != 1000 {
		t.Errorf("snapshot size %v, want 1000", got)
	}
}

// TestReplicaRoles: each hosted group gets the role it is hosted in.
func TestReplicaRoles(t *testing.T) {
	s := NewReplicaSet(nil, SetConfig{Zone: "A"})
	for _, h := range []*Hosted{NewHosted("A", nil, nil, true, false), NewHosted("C", nil, nil, false, false), NewHosted("B-f1", nil, nil, true, true)} {
		s.Add(h)
	}
	got := map[string]string{}
	for _, r := range s.RaftReplicas() {
		got[r.Group] = r.Role
		if r.LeaseUntil != nil {
			t.Errorf("%s: a lease read on a standalone node", r.Group)
		}
	}
	want := map[string]string{"zone/A": imetrics.RoleZone, "zone/C": imetrics.RoleAsyncFollower, "zone/B-f1": imetrics.RoleFailoverStore}
	if len(got) != len(want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
	for g, r := range want {
		if got[g] != r {
			t.Errorf("%s: role %q, want %q", g, got[g], r)
		}
	}
}
