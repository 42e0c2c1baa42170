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
