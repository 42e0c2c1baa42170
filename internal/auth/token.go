package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// A token reads "rzt_" + id + "_" + secret: id is 16 hex digits (it finds
// the token's hash), secret the base64url of 32 random bytes.
const (
	tokenPrefix  = "rzt_"
	tokenIDLen   = 16
	secretBytes  = 32
	secretB64Len = 43 // base64.RawURLEncoding of secretBytes
)

// New makes a token: its id, its secret's hash and the whole token, which
// is shown once and kept nowhere.
func New() (id string, hash []byte, token string) {
	var idb [tokenIDLen / 2]byte
	secret := make([]byte, secretBytes)
	if _, err := rand.Read(idb[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	if _, err := rand.Read(secret); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	id = hex.EncodeToString(idb[:])
	return id, Hash(secret), tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
}

// NewToken makes a token for a bootstrap token file (the node's
// BootstrapTokenFile): the caller keeps it secret.
func NewToken() string {
	_, _, token := New()
	return token
}

// Parse splits a token into its id and secret; ok false if it is not in
// the form New makes.
func Parse(s string) (id string, secret []byte, ok bool) {
	if len(s) != len(tokenPrefix)+tokenIDLen+1+secretB64Len || !strings.HasPrefix(s, tokenPrefix) {
		return "", nil, false
	}
	id = s[len(tokenPrefix) : len(tokenPrefix)+tokenIDLen]
	if s[len(tokenPrefix)+tokenIDLen] != '_' {
		return "", nil, false
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", nil, false
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(s[len(tokenPrefix)+tokenIDLen+1:])
	if err != nil || len(secret) != secretBytes {
		return "", nil, false
	}
	return id, secret, true
}

// Hash is the SHA-256 of a token's secret, the form the meta group keeps
// it in.
func Hash(secret []byte) []byte {
	sum := sha256.Sum256(secret)
	return sum[:]
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
