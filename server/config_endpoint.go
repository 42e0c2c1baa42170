package server

import (
	"net/http"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// handleSetConfig writes a key of the meta group's config store: the
// scheduler's windows, whitelists and limits live there.
func (n *Node) handleSetConfig(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	key := r.PathValue("key")
	if err := api.ValidateConfigKey(key); err != nil {
		api.WriteError(w, err.(*api.Error))
		return
	}
	var req api.SetConfigRequest
	if !api.ReadJSON(w, r, &req) {
		return
	}
	res, err := n.cluster.Apply(r.Context(), fsm.MetaCmd{Type: fsm.MetaSetConfig, Key: key, Value: req.Value, ExpectedVersion: req.ExpectedVersion})
	if err != nil {
		api.WriteError(w, cluster.APIError(err))
		return
	}
	if res.Err != "" {
		api.WriteError(w, api.Errorf(api.CodeVersionConflict, "%s", res.Err))
		return
	}
	api.WriteJSON(w, http.StatusOK, api.ConfigItem(res.Item))
}

// handleGetConfig reads a key from this node's meta replica (it may lag
// the meta leader by a heartbeat; the version says which write it shows).
func (n *Node) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	key := r.PathValue("key")
	it, ok := n.metaFSM.State().ConfigValue(key)
	if !ok {
		api.WriteError(w, api.Errorf(api.CodeNotFound, "no config key %q", key))
		return
	}
	api.WriteJSON(w, http.StatusOK, api.ConfigItem(it))
}

func (n *Node) handleListConfig(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		api.WriteError(w, cluster.APIError(cluster.ErrNotInitialized))
		return
	}
	api.WriteJSON(w, http.StatusOK, cluster.APIConfig(n.metaFSM.State().Config))
}
