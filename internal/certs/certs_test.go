package certs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCreateAndList makes a CA, a node and a client certificate: keys are
// 0600, the CA is not overwritten, List tells the kinds apart, and Load
// refuses a client certificate as a node's.
func TestCreateAndList(t *testing.T) {
	dir := t.TempDir()
	if err := CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := CreateCA(dir); !errors.Is(err, ErrExists) {
		t.Fatalf("second create-ca: %v, want ErrExists", err)
	}
	if err := CreateNode(dir, "a1", []string{"127.0.0.1", "a1.example"}); err != nil {
		t.Fatal(err)
	}
	if err := CreateClient(dir, "ops"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAKeyFile, NodeKey, "client.ops.key", GossipFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want 0600", f, st.Mode(), err)
		}
	}
	infos, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, in := range infos {
		kinds[in.File] = in.Kind
	}
	if kinds[CAFile] != "ca" || kinds[NodeFile] != "node" || kinds["client.ops.crt"] != "client" {
		t.Fatalf("kinds %v", kinds)
	}
	n, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.GossipKey) != 32 || n.Certificate().Leaf.Subject.CommonName != "a1" {
		t.Fatalf("loaded %d-byte gossip key, node %q", len(n.GossipKey), n.Certificate().Leaf.Subject.CommonName)
	}
	os.Rename(filepath.Join(dir, "client.ops.crt"), filepath.Join(dir, NodeFile))
	os.Rename(filepath.Join(dir, "client.ops.key"), filepath.Join(dir, NodeKey))
	if _, err := Load(dir); err == nil {
		t.Fatal("a client certificate loaded as a node certificate")
	}
}
