package cluster

import (
	"net/http"
	"strconv"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
)

// MetaLeaderHTTP is the API address of the meta group's leader, "" when
// it is this node (LeaderID, LeaderAddr).
func (m *Member) MetaLeaderHTTP() (string, error) {
	id, err := m.LeaderID()
	if err != nil || id == m.cfg.NodeID {
		return "", err
	}
	return m.LeaderAddr(id)
}

// StreamToLeader passes r (a GET; what names it in errors) on to the
// group's leader at leader() and streams the reply back as it comes
// (peer.Client.Stream): a backup can be far larger than a forwarded reply
// may be held in memory. It copies the reply's headers named in headers
// and sets leaderHeader to the leader's address. A request forwarded
// MaxHops times already, or one whose leader is now this node, is answered
// unavailable.
func (m *Member) StreamToLeader(w http.ResponseWriter, r *http.Request, what string, leader func() (string, error), headers []string, leaderHeader string) {
	hops, _ := strconv.Atoi(r.Header.Get(peer.HeaderHops))
	if hops >= MaxHops {
		api.WriteError(w, api.Errorf(api.CodeUnavailable, "%s was forwarded %d times without reaching the leader; retry", what, hops))
		return
	}
	addr, err := leader()
	if err != nil {
		api.WriteError(w, m.cfg.APIError(err))
		return
	}
	if addr == "" {
		api.WriteError(w, api.Errorf(api.CodeUnavailable, "leadership changed; retry"))
		return
	}
	m.cfg.Peer.Stream(w, r, addr, hops+1, headers, leaderHeader)
}
