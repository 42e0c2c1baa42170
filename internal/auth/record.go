package auth

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Record makes the token req asks for at now: the record the meta group
// keeps (its secret's hash, no secret; the log sets its creation time) and
// the whole token, shown once.
func Record(req api.CreateTokenRequest, now time.Time) (fsm.Token, string) {
	id, hash, token := New()
	t := fsm.Token{ID: id, Role: req.Role, Name: req.Name, Hash: hash}
	if req.ExpiresInSec > 0 {
		t.Expires = now.Add(time.Duration(req.ExpiresInSec) * time.Second).UnixMilli()
	}
	return t, token
}

// APIToken is a token record as the API lists it, without its hash.
func APIToken(t fsm.Token) api.Token {
	return api.Token{ID: t.ID, Role: t.Role, Name: t.Name, CreatedMs: t.Created, ExpiresMs: t.Expires}
}

// Role is the role of the bearer token in an Authorization header: admin
// for the node's bootstrap token (bootstrap is its hash, nil for none),
// else the role of the token lookup (nil: none) finds by its id, if the
// secret matches and it has not expired at now. ok is false for no token,
// a malformed one, an unknown, revoked or expired one.
func Role(header string, bootstrap []byte, lookup func(id string) (fsm.Token, bool), now time.Time) (string, bool) {
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return "", false
	}
	id, secret, ok := Parse(raw)
	if !ok {
		return "", false
	}
	sum := Hash(secret)
	if bootstrap != nil && Equal(sum, bootstrap) {
		return fsm.RoleAdmin, true
	}
	if lookup == nil {
		return "", false
	}
	t, found := lookup(id)
	if !found || !Equal(sum, t.Hash) {
		return "", false
	}
	if t.Expires != 0 && now.UnixMilli() >= t.Expires {
		return "", false
	}
	return t.Role, true
}

// LoadBootstrap reads a bootstrap token file (a token as NewToken makes
// it, surrounding space ignored) and returns its secret's hash.
func LoadBootstrap(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bootstrap token: %w", err)
	}
	_, secret, ok := Parse(strings.TrimSpace(string(data)))
	if !ok {
		return nil, fmt.Errorf("bootstrap token file %s: not an rzone token", path)
	}
	return Hash(secret), nil
}
