package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// ErrNotInitialized means the cluster has not been initialized yet (the
// meta group holds no cluster); its text is the one the API has always
// answered with.
var ErrNotInitialized = errors.New("server: cluster not initialized; run `rzone cluster init`")

// Ready reports whether this node can serve a user request of every shard
// now (GET /readyz). Standalone: as leader the read protocol passes, as
// follower a leader is known and was heard from recently. In a cluster:
// the cluster is initialized and every group that owns shards (a zone, or a
// failover store) serves: its leader, here or asked with /readyz?group=,
// leads it with its shards set up, holds its lease and passes the read
// protocol. With group set it answers for that group alone, on its leader
// (zone.ReplicaSet.Serves).
func (m *Member) Ready(ctx context.Context, group string) error {
	switch {
	case !m.cfg.Clustered:
		return m.standaloneReady(ctx)
	case group != "":
		return m.host.Zones().Serves(ctx, group)
	default:
		return m.clusterReady(ctx)
	}
}

func (m *Member) standaloneReady(ctx context.Context) error {
	h := m.host.Zones().Own()
	switch {
	case h == nil:
		return ErrNotInitialized
	case h.Replica().IsLeader():
		return h.Replica().Linearizable(ctx, time.Second)
	}
	rf := h.Replica().Raft()
	if _, id := rf.LeaderWithID(); id == "" || m.HTTPAddrOf(string(id)) == "" || time.Since(rf.LastContact()) > 2*m.cfg.HeartbeatTimeout {
		return zone.ErrNoLeader
	}
	return nil
}

// clusterReady checks that every group owning shards serves.
func (m *Member) clusterReady(ctx context.Context) error {
	st := m.host.MetaFSM().State()
	if !st.Initialized {
		return ErrNotInitialized
	}
	var groups []string
	for _, s := range st.Shards {
		if !slices.Contains(groups, s.Zone) {
			groups = append(groups, s.Zone)
		}
	}
	slices.Sort(groups)
	for _, g := range groups {
		addr, ok := m.ZoneLeaderNow(g)
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("%w of %s known to node %s", zone.ErrNoLeader, g, m.cfg.NodeID)
		case addr == "":
			err = m.host.Zones().Serves(ctx, g)
		default:
			var out map[string]string
			err = m.cfg.Peer.GetJSON(ctx, addr, "/readyz?group="+url.QueryEscape(g), &out)
		}
		if err != nil {
			return api.Errorf(api.CodeUnavailable, "%s does not serve now: %v", g, err)
		}
	}
	return nil
}
