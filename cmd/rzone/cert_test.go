package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rzonedb/rzone/internal/certs"
)

// TestCertBootstrapIsIdempotent: the first run makes a CA, one node
// certificate for the hosts and an admin token file, and drops the CA key;
// a second run (a restarted compose service) changes nothing.
func TestCertBootstrapIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	run := func() string {
		var out bytes.Buffer
		cmd := newCertCmd()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"bootstrap", "--certs-dir", dir, "a1", "b1", "127.0.0.1"})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("cert bootstrap: %v\n%s", err, out.String())
		}
		return out.String()
	}
	if out := run(); !strings.Contains(out, "admin token") {
		t.Fatalf("first run: %q", out)
	}
	token, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(token), "rzt_") {
		t.Fatalf("token file holds %q", token)
	}
	if st, _ := os.Stat(filepath.Join(dir, "admin.token")); st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, certs.CAKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("the CA key is still there: %v", err)
	}
	n, err := certs.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	leaf := n.Certificate().Leaf
	if leaf == nil || !certs.IsNode(leaf) || strings.Join(leaf.DNSNames, ",") != "a1,b1" || len(leaf.IPAddresses) != 1 {
		t.Fatalf("node certificate: %+v", leaf)
	}
	if out := run(); !strings.Contains(out, "nothing changed") {
		t.Fatalf("second run: %q", out)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "admin.token"))
	if !bytes.Equal(again, token) {
		t.Fatal("the second run replaced the token")
	}
}
