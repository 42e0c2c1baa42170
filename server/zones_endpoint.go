package server

import (
	"context"
	"net/http"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/zone"
)

func (n *Node) handleRoutes(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeJSON(w, http.StatusOK, n.cluster.StandaloneRoutes())
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
	writeJSON(w, http.StatusOK, n.cluster.RouteTable())
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
