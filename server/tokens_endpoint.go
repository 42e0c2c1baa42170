package server

import (
	"context"
	"net/http"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/auth"
)

// handleCreateToken makes a token and answers it once, secret included;
// the meta group keeps only the secret's hash.
func (n *Node) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	var req api.CreateTokenRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	t, secret := auth.Record(req, time.Now())
	res, err := n.cluster.Apply(r.Context(), fsm.MetaCmd{Type: fsm.MetaTokenCreate, Token: &t})
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
	out := auth.APIToken(t)
	out.CreatedMs = res.Created
	out.Token = secret
	api.WriteJSON(w, http.StatusOK, out)
}

// handleListTokens lists the tokens, without secrets or hashes.
func (n *Node) handleListTokens(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	out := []api.Token{}
	for _, t := range n.metaFSM.State().Tokens {
		out = append(out, auth.APIToken(t))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// handleRevokeToken removes a token; every node refuses it once its meta
// replica has applied the revocation.
func (n *Node) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	res, err := n.cluster.Apply(r.Context(), fsm.MetaCmd{Type: fsm.MetaTokenRevoke, TokenID: r.PathValue("id")})
	if metaRefused(w, res, err, api.CodeNotFound) {
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"revoked": r.PathValue("id")})
}

// loadBootstrapToken keeps the hash of Config.BootstrapTokenFile's token.
func (n *Node) loadBootstrapToken() (err error) {
	if n.cfg.BootstrapTokenFile != "" {
		n.bootstrapToken, err = auth.LoadBootstrap(n.cfg.BootstrapTokenFile)
	}
	return err
}
