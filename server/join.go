package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
)

// joinLoop asks the member at Config.Join to add this node, until it
// succeeds or the node stops. A node that is already a member is simply
// re-registered.
func (n *Node) joinLoop(stop <-chan struct{}) {
	body, _ := json.Marshal(api.JoinRequest{NodeID: n.cfg.NodeID, RaftAddr: n.cfg.raftAdvertise(), HTTPAddr: n.cfg.httpAdvertise()})
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := n.joinOnce(body)
		if err == nil {
			n.log.Info("joined the group", "via", n.cfg.Join, "attempts", attempt)
			return
		}
		n.log.Info("join not done yet; retrying", "via", n.cfg.Join, "attempt", attempt, "err", err)
		select {
		case <-stop:
			return
		case <-n.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (n *Node) joinOnce(body []byte) error {
	return n.peer.PostJSON(context.Background(), n.cfg.Join, "/v1/cluster/join", json.RawMessage(body), nil, peer.Timeout(15*time.Second))
}
