package zone

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpenFoundOnlyZoneFolders: a data folder without groups opens
// nothing; one with only other groups' folders and stray files opens
// nothing either (the meta group's is the node's).
func TestOpenFoundOnlyZoneFolders(t *testing.T) {
	dir := t.TempDir()
	s := NewReplicaSet(nil, SetConfig{Zone: "A", DataDir: dir})
	if err := s.OpenFound(); err != nil {
		t.Fatalf("no groups folder: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "groups", "meta"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "groups", "zone-B"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.OpenFound(); err != nil || len(s.List()) != 0 {
		t.Fatalf("opened %d replicas (%v), want none", len(s.List()), err)
	}
}

// TestServing: only the groups this node votes in, leads and has set up
// may write (standalone: no lease to hold).
func TestServing(t *testing.T) {
	r := bootstrapOne(t)
	s := NewReplicaSet(nil, SetConfig{Zone: "A"})
	ready := NewHosted("A", r.rep, r.f, true, false)
	ready.SetReady()
	follower := NewHosted("C", r.rep, r.f, false, false)
	follower.SetReady()
	for _, h := range []*Hosted{ready, follower, NewHosted("B", r.rep, r.f, true, false)} {
		s.Add(h)
	}
	if got := s.Serving(); len(got) != 1 || got[0] != ready {
		var names []string
		for _, h := range got {
			names = append(names, h.Name())
		}
		t.Fatalf("serving %v, want only A", names)
	}
}
