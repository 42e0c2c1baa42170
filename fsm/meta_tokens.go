package fsm

import (
	"crypto/sha256"
	"fmt"
	"slices"
)

// Token is an API token as the meta group keeps it: its id, role and the
// SHA-256 hash of its secret, never the secret itself.
type Token struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	Name string `json:"name"`
	// Hash is the SHA-256 of the token's secret.
	Hash []byte `json:"hash"`
	// Created is the log time of the creation, Unix ms; Expires is when
	// the token stops working, Unix ms, 0 for never.
	Created int64 `json:"created"`
	Expires int64 `json:"expires,omitempty"`
}

// Token meta commands; their numbers are part of the log format.
const (
	MetaTokenCreate byte = 12 // add a token (Token)
	MetaTokenRevoke byte = 13 // remove the token TokenID
)

// Token roles, from the least to the most allowed.
const (
	RoleMetrics = "metrics"
	RoleReader  = "reader"
	RoleApp     = "app"
	RoleAdmin   = "admin"
)

// ValidRole reports whether r is a token role.
func ValidRole(r string) bool {
	return r == RoleMetrics || r == RoleReader || r == RoleApp || r == RoleAdmin
}

// maxTokens bounds the tokens a cluster keeps.
const maxTokens = 10_000

func (c *MetaCmd) invalidToken() string {
	switch c.Type {
	case MetaInit, MetaTokenCreate:
		t := c.Token
		if t == nil && c.Type == MetaInit {
			return ""
		}
		if t == nil {
			return "token missing"
		}
		if msg := validName("token id", t.ID); msg != "" {
			return msg
		}
		if !ValidRole(t.Role) {
			return fmt.Sprintf("unknown role %q", t.Role)
		}
		if len(t.Name) > maxNameLen {
			return fmt.Sprintf("token name longer than %d bytes", maxNameLen)
		}
		if len(t.Hash) != sha256.Size {
			return "token hash is not a SHA-256"
		}
		if t.Expires < 0 {
			return "negative expiry"
		}
	case MetaTokenRevoke:
		return validName("token id", c.TokenID)
	}
	return ""
}

func (s *MetaState) tokenApply(c *MetaCmd) MetaResult {
	switch c.Type {
	case MetaTokenCreate:
		i, ok := slices.BinarySearchFunc(s.Tokens, c.Token.ID, func(t Token, id string) int { return cmpString(t.ID, id) })
		if ok {
			return MetaResult{Err: fmt.Sprintf("token %s exists", c.Token.ID)}
		}
		if len(s.Tokens) >= maxTokens {
			return MetaResult{Err: fmt.Sprintf("the cluster holds %d tokens already", maxTokens)}
		}
		t := *c.Token
		t.Hash = slices.Clone(t.Hash)
		t.Created = c.Time
		s.Tokens = slices.Insert(s.Tokens, i, t)
		return MetaResult{Epoch: s.Epoch, Created: t.Created}
	case MetaTokenRevoke:
		i, ok := slices.BinarySearchFunc(s.Tokens, c.TokenID, func(t Token, id string) int { return cmpString(t.ID, id) })
		if !ok {
			return MetaResult{Err: fmt.Sprintf("no token %s", c.TokenID)}
		}
		s.Tokens = slices.Delete(s.Tokens, i, i+1)
	}
	return MetaResult{Epoch: s.Epoch}
}

// Token returns the token id, without copying the whole state.
func (m *Meta) Token(id string) (Token, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, ok := slices.BinarySearchFunc(m.st.Tokens, id, func(t Token, id string) int { return cmpString(t.ID, id) })
	if !ok {
		return Token{}, false
	}
	return m.st.Tokens[i], true
}
