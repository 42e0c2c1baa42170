package cluster

import "github.com/rzonedb/rzone/internal/api"

// RouteTable is the route table with each zone's leader, from this
// node's meta replica (GET /v1/routes in cluster mode).
func (m *Member) RouteTable() api.RouteTable {
	st := m.host.MetaFSM().State()
	rt := api.RouteTable{Epoch: st.Epoch}
	for i, s := range st.Shards {
		rt.Shards = append(rt.Shards, api.ShardRoute{Shard: i, Zone: s.Zone, Epoch: s.Epoch, Target: s.Target})
	}
	for _, z := range st.Zones {
		zr := api.ZoneRoute{Zone: z.Name, Backup: z.Backup}
		if addr, ok := m.ZoneLeaderNow(z.Name); ok {
			if addr == "" {
				addr = m.cfg.HTTPAddr
			}
			zr.LeaderHTTP = addr
		}
		if l, ok := st.Lease(z.Name); ok {
			zr.Leader = l.Holder
		}
		if h := m.host.Zones().Get(z.Name); h != nil {
			if _, id := h.Replica().Raft().LeaderWithID(); id != "" {
				zr.Leader = string(id)
				zr.LeaderHTTP = m.HTTPAddrOf(string(id))
			}
		}
		for _, nd := range st.Nodes {
			if nd.Zone == z.Name {
				zr.Nodes = append(zr.Nodes, nd.HTTPAddr)
			}
		}
		rt.Zones = append(rt.Zones, zr)
	}
	// A failover store serves a failed-over zone's shards from the backup
	// zone's nodes.
	for _, z := range st.Zones {
		if z.Failover == nil {
			continue
		}
		g := z.Failover.Group
		if _, live := st.StoreOf(g); !live {
			continue
		}
		zr := api.ZoneRoute{Zone: g}
		if addr, ok := m.ZoneLeaderNow(g); ok {
			if addr == "" {
				addr = m.cfg.HTTPAddr
			}
			zr.LeaderHTTP = addr
		}
		if l, ok := st.Lease(g); ok {
			zr.Leader = l.Holder
		}
		for _, nd := range st.Nodes {
			if nd.Zone == z.Backup {
				zr.Nodes = append(zr.Nodes, nd.HTTPAddr)
			}
		}
		rt.Zones = append(rt.Zones, zr)
	}
	return rt
}

// StandaloneRoutes describes a standalone zone: it owns every shard
// (GET /v1/routes on a standalone node).
func (m *Member) StandaloneRoutes() api.RouteTable {
	rt := api.RouteTable{Epoch: 1}
	for i := 0; i < 100; i++ {
		rt.Shards = append(rt.Shards, api.ShardRoute{Shard: i, Zone: m.cfg.Zone, Epoch: 1})
	}
	zr := api.ZoneRoute{Zone: m.cfg.Zone}
	if h := m.host.Zones().Own(); h != nil {
		if _, id := h.Replica().Raft().LeaderWithID(); id != "" {
			zr.Leader, zr.LeaderHTTP = string(id), m.HTTPAddrOf(string(id))
		}
		if servers, err := h.Replica().Members(); err == nil {
			for _, s := range servers {
				if a := m.HTTPAddrOf(string(s.ID)); a != "" {
					zr.Nodes = append(zr.Nodes, a)
				}
			}
		}
	}
	rt.Zones = []api.ZoneRoute{zr}
	return rt
}
