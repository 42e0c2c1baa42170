package server

import (
	"context"
	"net/http"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/zone"
)

// routeTable is the route table with each zone's leader, from this node's
// meta replica.
func (n *Node) routeTable() api.RouteTable {
	st := n.metaFSM.State()
	rt := api.RouteTable{Epoch: st.Epoch}
	for i, s := range st.Shards {
		rt.Shards = append(rt.Shards, api.ShardRoute{Shard: i, Zone: s.Zone, Epoch: s.Epoch, Target: s.Target})
	}
	for _, z := range st.Zones {
		zr := api.ZoneRoute{Zone: z.Name, Backup: z.Backup}
		if addr, ok := n.zoneLeaderNow(z.Name); ok {
			if addr == "" {
				addr = n.cfg.httpAdvertise()
			}
			zr.LeaderHTTP = addr
		}
		if l, ok := st.Lease(z.Name); ok {
			zr.Leader = l.Holder
		}
		if h := n.zones.Get(z.Name); h != nil {
			if _, id := h.Replica().Raft().LeaderWithID(); id != "" {
				zr.Leader = string(id)
				zr.LeaderHTTP = n.httpAddrOf(string(id))
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
		if addr, ok := n.zoneLeaderNow(g); ok {
			if addr == "" {
				addr = n.cfg.httpAdvertise()
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

func (n *Node) handleRoutes(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeJSON(w, http.StatusOK, n.standaloneRoutes())
		return
	}
	if e := n.waitAfter(r); e != nil {
		writeError(w, e)
		return
	}
	if !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	writeJSON(w, http.StatusOK, n.routeTable())
}

// standaloneRoutes describes a standalone zone: it owns every shard.
func (n *Node) standaloneRoutes() api.RouteTable {
	rt := api.RouteTable{Epoch: 1}
	for i := 0; i < 100; i++ {
		rt.Shards = append(rt.Shards, api.ShardRoute{Shard: i, Zone: n.cfg.Zone, Epoch: 1})
	}
	zr := api.ZoneRoute{Zone: n.cfg.Zone}
	if h := n.zones.Own(); h != nil {
		if _, id := h.Replica().Raft().LeaderWithID(); id != "" {
			zr.Leader, zr.LeaderHTTP = string(id), n.httpAddrOf(string(id))
		}
		if servers, err := h.Replica().Members(); err == nil {
			for _, s := range servers {
				if a := n.httpAddrOf(string(s.ID)); a != "" {
					zr.Nodes = append(zr.Nodes, a)
				}
			}
		}
	}
	rt.Zones = []api.ZoneRoute{zr}
	return rt
}

// localReplicas reports every replica this node hosts.
func (n *Node) localReplicas() []api.ReplicaState {
	out := n.zones.States(n.cfg.httpAdvertise())
	if n.meta != nil {
		out = append(out, zone.ReplicaStateOf(n.cfg.NodeID, n.cfg.httpAdvertise(), "meta", n.meta.Raft(), n.metaFSM.AppliedIndex(), false, true))
	}
	return out
}

// handleInternalReplicas serves this node's replicas; with ?digest=1 each
// comes with its state digest and the applied index the digest was read at
// (a scan of the whole state: for fault tests and operators comparing
// replicas, not for the zone status's polls).
func (n *Node) handleInternalReplicas(w http.ResponseWriter, r *http.Request) {
	rs := n.localReplicas()
	if r.URL.Query().Get("digest") == "1" {
		n.addDigests(rs)
	}
	writeJSON(w, http.StatusOK, rs)
}

// addDigests fills in the state digest of each of this node's replicas in
// rs (zone.ReplicaSet.AddDigests).
func (n *Node) addDigests(rs []api.ReplicaState) {
	var meta func() (uint64, [32]byte, error)
	if n.metaFSM != nil {
		meta = n.metaFSM.Digest
	}
	n.zones.AddDigests(rs, meta)
}

// newStatus makes the node's gatherer of the zone status (zone.Status).
func (n *Node) newStatus() *zone.Status {
	return &zone.Status{NodeID: n.cfg.NodeID, Local: n.localReplicas,
		Get: func(ctx context.Context, addr string, out *[]api.ReplicaState) error {
			return n.peer.GetJSON(ctx, addr, "/v1/internal/replicas", out, peer.Timeout(700*time.Millisecond))
		}}
}

// zoneStatuses builds the status of every zone from the meta state and the
// replicas the nodes report.
func (n *Node) zoneStatuses(ctx context.Context) api.ZoneList {
	return n.status.Zones(ctx, n.metaFSM.State())
}

func (n *Node) handleZones(w http.ResponseWriter, r *http.Request) {
	if e := n.waitAfter(r); e != nil {
		writeError(w, e)
		return
	}
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	writeJSON(w, http.StatusOK, n.zoneStatuses(r.Context()))
}

func (n *Node) handleZone(w http.ResponseWriter, r *http.Request) {
	if e := n.waitAfter(r); e != nil {
		writeError(w, e)
		return
	}
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	name := r.PathValue("zone")
	for _, z := range n.zoneStatuses(r.Context()).Zones {
		if z.Zone == name {
			writeJSON(w, http.StatusOK, z)
			return
		}
	}
	writeError(w, api.Errorf(api.CodeNotFound, "no zone %q", name))
}

func (n *Node) handleMembers(w http.ResponseWriter, r *http.Request) {
	if n.gossip == nil {
		writeError(w, api.Errorf(api.CodeNotFound, "this node runs a standalone zone without gossip"))
		return
	}
	out := api.MemberList{DetectionTimeMs: n.gossip.DetectionTime().Milliseconds()}
	for _, m := range n.gossip.Members() {
		out.Members = append(out.Members, api.MemberInfo{ID: m.NodeID, Zone: m.Zone, Roles: m.Roles, HTTPAddr: m.HTTPAddr,
			RaftAddr: m.RaftAddr, Gossip: m.Addr, Capacity: m.Capacity, State: string(m.State), Since: m.Since.UTC().Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, out)
}
