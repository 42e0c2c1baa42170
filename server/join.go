package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rzonedb/rzone/internal/api"
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
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := n.peer.NewRequest(ctx, http.MethodPost, n.cfg.Join, "/v1/cluster/join", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.peer.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("join: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
