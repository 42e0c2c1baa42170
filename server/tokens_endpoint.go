package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/auth"
)

// handleCreateToken makes a token and answers it once, secret included;
// the meta group keeps only the secret's hash.
func (n *Node) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	var req api.CreateTokenRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	id, hash, secret := auth.New()
	t := fsm.Token{ID: id, Role: req.Role, Name: req.Name, Hash: hash}
	if req.ExpiresInSec > 0 {
		t.Expires = time.Now().Add(time.Duration(req.ExpiresInSec) * time.Second).UnixMilli()
	}
	res, err := n.metaApply(r.Context(), fsm.MetaCmd{Type: fsm.MetaTokenCreate, Token: &t})
	if metaRefused(w, res, err, api.CodeInvalidArgument) {
		return
	}
	// The reply shows the token as the log created it (res.Created), and
	// comes once this node's replica holds it, so that it works here from
	// the reply on; a replica too slow for that does not withhold the
	// secret, which is shown only here.
	wait, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	n.metaFSM.WaitApplied(wait.Done(), res.Index)
	out := apiToken(t)
	out.CreatedMs = res.Created
	out.Token = secret
	writeJSON(w, http.StatusOK, out)
}

// handleListTokens lists the tokens, without secrets or hashes.
func (n *Node) handleListTokens(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, apiError(errNotInitialized))
		return
	}
	out := []api.Token{}
	for _, t := range n.metaFSM.State().Tokens {
		out = append(out, apiToken(t))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRevokeToken removes a token; every node refuses it once its meta
// replica has applied the revocation.
func (n *Node) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	res, err := n.metaApply(r.Context(), fsm.MetaCmd{Type: fsm.MetaTokenRevoke, TokenID: r.PathValue("id")})
	if metaRefused(w, res, err, api.CodeNotFound) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"revoked": r.PathValue("id")})
}

func apiToken(t fsm.Token) api.Token {
	return api.Token{ID: t.ID, Role: t.Role, Name: t.Name, CreatedMs: t.Created, ExpiresMs: t.Expires}
}

// loadBootstrapToken reads Config.BootstrapTokenFile and keeps its hash.
func (n *Node) loadBootstrapToken() error {
	if n.cfg.BootstrapTokenFile == "" {
		return nil
	}
	data, err := os.ReadFile(n.cfg.BootstrapTokenFile)
	if err != nil {
		return fmt.Errorf("bootstrap token: %w", err)
	}
	_, secret, ok := auth.Parse(strings.TrimSpace(string(data)))
	if !ok {
		return fmt.Errorf("bootstrap token file %s: not an rzone token", n.cfg.BootstrapTokenFile)
	}
	sum := auth.Hash(secret)
	n.bootstrapToken = sum
	return nil
}
