package fsm

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// TestMetaTokens creates, refuses and revokes tokens: only the hash is
// kept, a repeated id and a bad role or hash are refused, revocation
// removes the token, and a snapshot carries the tokens.
func TestMetaTokens(t *testing.T) {
	m := NewMeta(nil)
	var idx uint64
	h := sha256.Sum256([]byte("secret"))
	tok := Token{ID: "t1", Role: RoleApp, Name: "checkout", Hash: h[:]}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaTokenCreate, Token: &tok, Time: 1234}); r.Err != "" || r.Created != 1234 {
		// The result carries the creation time for the reply.
		t.Fatalf("create: %q, created %d", r.Err, r.Created)
	}
	got, ok := m.Token("t1")
	if !ok || got.Role != RoleApp || got.Created != 1234 || !bytes.Equal(got.Hash, h[:]) {
		t.Fatalf("token t1: %+v %v", got, ok)
	}
	for _, tc := range []struct {
		name string
		tok  Token
	}{
		{"repeated id", tok},
		{"unknown role", Token{ID: "t2", Role: "root", Hash: h[:]}},
		{"short hash", Token{ID: "t3", Role: RoleApp, Hash: h[:8]}},
		{"no id", Token{Role: RoleApp, Hash: h[:]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := metaApply(t, m, &idx, MetaCmd{Type: MetaTokenCreate, Token: &tc.tok}); r.Err == "" {
				t.Fatalf("created %+v", tc.tok)
			}
		})
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaTokenCreate}); !r.Invalid {
		t.Fatalf("a create without a token: %+v", r)
	}
	snap, _ := m.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	m2 := NewMeta(nil)
	if err := m2.Restore(nopCloser{bytesReader(sink.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if _, ok := m2.Token("t1"); !ok {
		t.Fatal("the snapshot lost the token")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaTokenRevoke, TokenID: "t1"}); r.Err != "" {
		t.Fatal(r.Err)
	}
	if _, ok := m.Token("t1"); ok {
		t.Fatal("a revoked token is still there")
	}
	if r := metaApply(t, m, &idx, MetaCmd{Type: MetaTokenRevoke, TokenID: "t1"}); r.Err == "" {
		t.Fatal("revoked an unknown token")
	}
}
