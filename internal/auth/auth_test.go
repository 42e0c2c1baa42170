package auth

import (
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/depcheck"
)

// FuzzParseToken: the parser never panics, accepts only what New makes,
// and what it accepts reads back the same.
func FuzzParseToken(f *testing.F) {
	_, _, tok := New()
	f.Add(tok)
	f.Add("Bearer " + tok)
	f.Add("rzt_0123456789abcdef_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := Parse(s)
		if !ok {
			return
		}
		if len(secret) != secretBytes || len(id) != tokenIDLen {
			t.Fatalf("accepted %q: id %q, %d secret bytes", s, id, len(secret))
		}
		Equal(Hash(secret), Hash(secret))
	})
}

// TestTokenReadsBack: a token New makes parses into its id and a secret
// whose hash is the one New returned; another token's does not match.
func TestTokenReadsBack(t *testing.T) {
	id, hash, tok := New()
	gotID, secret, ok := Parse(tok)
	if !ok || gotID != id || !Equal(Hash(secret), hash) {
		t.Fatalf("Parse(%q) = %q, ok %v; hash matches %v", tok, gotID, ok, Equal(Hash(secret), hash))
	}
	_, other, _ := Parse(NewToken())
	if Equal(Hash(other), hash) {
		t.Fatal("another token's secret matches the hash")
	}
	for _, bad := range []string{"", tok[:len(tok)-1], "Bearer " + tok, "rzt_0123456789ABCDEF_" + tok[len(tok)-43:], tok[:20] + "-" + tok[21:]} {
		if _, _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestAuthLimiter: a source's first failure in a second is logged, the
// rest are not, and past MaxFailures it is refused outright; another
// source is not.
func TestAuthLimiter(t *testing.T) {
	at := time.Unix(1000, 0)
	l := Limiter{now: func() time.Time { return at }}
	if !l.Note("10.0.0.1") || l.Note("10.0.0.1") {
		t.Fatal("want the first failure logged and the second not")
	}
	for i := 0; i < MaxFailures; i++ {
		l.per["10.0.0.1"]++
	}
	if !l.Limited("10.0.0.1") {
		t.Fatal("a source past the limit is not refused")
	}
	if l.Limited("10.0.0.2") {
		t.Fatal("another source is refused")
	}
	at = at.Add(time.Second)
	if l.Limited("10.0.0.1") || !l.Note("10.0.0.1") {
		t.Fatal("the next second does not start afresh")
	}
	l.SetMax(1 << 30)
	for i := 0; i < 2*MaxFailures; i++ {
		l.Note("10.0.0.3")
	}
	if l.Limited("10.0.0.3") {
		t.Fatal("a raised limit still refuses")
	}
}

// TestAuthImportsNoNodePackage: the pure part of authentication links
// none of rzone's node, replica, client or command packages.
func TestAuthImportsNoNodePackage(t *testing.T) {
	depcheck.Forbid(t, "internal/auth", "server", "zone", "backup", "client", "cmd", "scheduler")
}
