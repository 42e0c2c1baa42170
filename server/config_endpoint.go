package server

import (
	"net/http"
	"strings"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// validConfigKey: 1 to 128 bytes of letters, digits and . _ - /.
func validConfigKey(k string) *api.Error {
	if len(k) == 0 || len(k) > 128 || strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") != "" {
		return api.Errorf(api.CodeInvalidArgument, "config key %q: 1 to 128 of letters, digits and . _ - /", k)
	}
	return nil
}

// handleSetConfig writes a key of the meta group's config store: the
// scheduler's windows, whitelists and limits live there.
func (n *Node) handleSetConfig(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	key := r.PathValue("key")
	if e := validConfigKey(key); e != nil {
		writeError(w, e)
		return
	}
	var req api.SetConfigRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	res, err := n.metaApply(r.Context(), fsm.MetaCmd{Type: fsm.MetaSetConfig, Key: key, Value: req.Value, ExpectedVersion: req.ExpectedVersion})
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if res.Err != "" {
		writeError(w, api.Errorf(api.CodeVersionConflict, "%s", res.Err))
		return
	}
	writeJSON(w, http.StatusOK, api.ConfigItem(res.Item))
}

// handleGetConfig reads a key from this node's meta replica (it may lag
// the meta leader by a heartbeat; the version says which write it shows).
func (n *Node) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, apiError(errNotInitialized))
		return
	}
	key := r.PathValue("key")
	it, ok := n.metaFSM.State().ConfigValue(key)
	if !ok {
		writeError(w, api.Errorf(api.CodeNotFound, "no config key %q", key))
		return
	}
	writeJSON(w, http.StatusOK, api.ConfigItem(it))
}

func (n *Node) handleListConfig(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, apiError(errNotInitialized))
		return
	}
	out := api.ConfigList{Items: []api.ConfigItem{}}
	for _, it := range n.metaFSM.State().Config {
		out.Items = append(out.Items, api.ConfigItem(it))
	}
	writeJSON(w, http.StatusOK, out)
}
