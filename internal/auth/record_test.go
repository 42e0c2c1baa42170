package auth

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// TestRecordAndRole: a token Record makes has the role, name and expiry
// asked for and a hash its secret matches; Role finds it through lookup
// until it expires, and refuses a missing Bearer prefix, a malformed, an
// unknown or a revoked token.
func TestRecordAndRole(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	rec, tok := Record(api.CreateTokenRequest{Role: fsm.RoleReader, Name: "ci", ExpiresInSec: 60}, now)
	if rec.Role != fsm.RoleReader || rec.Name != "ci" || rec.Expires != now.Add(time.Minute).UnixMilli() {
		t.Fatalf("record %+v", rec)
	}
	if forever, _ := Record(api.CreateTokenRequest{Role: fsm.RoleApp}, now); forever.Expires != 0 {
		t.Fatalf("a token without expiry expires at %d", forever.Expires)
	}
	kept := map[string]fsm.Token{rec.ID: rec}
	lookup := func(id string) (fsm.Token, bool) { t, ok := kept[id]; return t, ok }
	if role, ok := Role("Bearer "+tok, nil, lookup, now); !ok || role != fsm.RoleReader {
		t.Fatalf("Role = %q, %v; want reader", role, ok)
	}
	if _, ok := Role("Bearer "+tok, nil, lookup, now.Add(time.Minute)); ok {
		t.Fatal("an expired token is accepted")
	}
	for _, h := range []string{tok, "Bearer " + tok[:len(tok)-1], "Bearer " + NewToken(), ""} {
		if _, ok := Role(h, nil, lookup, now); ok {
			t.Errorf("Role(%q) accepted", h)
		}
	}
	if _, ok := Role("Bearer "+tok, nil, nil, now); ok {
		t.Fatal("accepted without a token store")
	}
	delete(kept, rec.ID)
	if _, ok := Role("Bearer "+tok, nil, lookup, now); ok {
		t.Fatal("a revoked token is accepted")
	}
	if a := APIToken(rec); a.ID != rec.ID || a.Role != rec.Role || a.Name != rec.Name || a.ExpiresMs != rec.Expires {
		t.Fatalf("APIToken = %+v", a)
	}
}

// TestLoadBootstrap: a bootstrap token file's token, with surrounding
// space, is admin by the hash LoadBootstrap returns; a file that holds no
// token and a missing file are errors.
func TestLoadBootstrap(t *testing.T) {
	dir := t.TempDir()
	tok := NewToken()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("  "+tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := LoadBootstrap(good)
	if err != nil {
		t.Fatal(err)
	}
	if role, ok := Role("Bearer "+tok, sum, nil, time.Now()); !ok || role != fsm.RoleAdmin {
		t.Fatalf("bootstrap token: Role = %q, %v; want admin", role, ok)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not a token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBootstrap(bad); err == nil {
		t.Fatal("a file without a token loads")
	}
	if _, err := LoadBootstrap(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file loads")
	}
}
