package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/rzonedb/rzone/internal/api"
)

// CreateToken makes a token of role (metrics, reader, app or admin) named
// name, ending expiresInSec seconds from now (0: never). The answer holds
// the secret, shown this once; the cluster keeps only its hash. Needs an
// admin token. It is not retried after an unknown outcome (a retry would
// make a second token); list the tokens to see whether it was made.
func (c *Client) CreateToken(ctx context.Context, role, name string, expiresInSec int64) (*Token, error) {
	var out Token
	body := api.CreateTokenRequest{Role: role, Name: name, ExpiresInSec: expiresInSec}
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/tokens", body: body, out: &out, write: true, admin: true, noKey: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Tokens lists the cluster's tokens, without their secrets.
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var out []Token
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/tokens", out: &out, admin: true}); err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeToken removes the token id; every node refuses it within a
// second.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{method: http.MethodDelete, path: "/v1/tokens/" + url.PathEscape(id), write: true, admin: true})
	return err
}
