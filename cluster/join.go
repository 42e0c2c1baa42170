package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
)

// JoinLoop (standalone) asks the member at API address via to add this
// node as req describes it, until it succeeds or stop or nodeStop closes.
// A node that is already a member is simply re-registered.
func (m *Member) JoinLoop(stop, nodeStop <-chan struct{}, via string, req api.JoinRequest) {
	body, _ := json.Marshal(req)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := m.joinOnce(via, body)
		if err == nil {
			m.log.Info("joined the group", "via", via, "attempts", attempt)
			return
		}
		m.log.Info("join not done yet; retrying", "via", via, "attempt", attempt, "err", err)
		select {
		case <-stop:
			return
		case <-nodeStop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (m *Member) joinOnce(via string, body []byte) error {
	return m.cfg.Peer.PostJSON(context.Background(), via, "/v1/cluster/join", json.RawMessage(body), nil, peer.Timeout(15*time.Second))
}
