package cluster

import (
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/zone"
)

// LocalReplicas reports every replica this node hosts: its zone replicas
// (zone.ReplicaSet.States) and its meta replica, if any. With digest each
// comes with its state digest and the applied index the digest was read
// at (zone.ReplicaSet.AddDigests: a scan of the whole state).
func (m *Member) LocalReplicas(digest bool) []api.ReplicaState {
	out := m.host.Zones().States(m.cfg.HTTPAddr)
	meta, metaFSM := m.host.MetaReplica(), m.host.MetaFSM()
	if meta != nil {
		out = append(out, zone.ReplicaStateOf(m.cfg.NodeID, m.cfg.HTTPAddr, "meta", meta.Raft(), metaFSM.AppliedIndex(), false, true))
	}
	if digest {
		var metaDigest func() (uint64, [32]byte, error)
		if metaFSM != nil {
			metaDigest = metaFSM.Digest
		}
		m.host.Zones().AddDigests(out, metaDigest)
	}
	return out
}

// APIMembers is the member list gossip g shows, as the API answers it.
func APIMembers(g *gossip.Gossip) api.MemberList {
	out := api.MemberList{DetectionTimeMs: g.DetectionTime().Milliseconds()}
	for _, m := range g.Members() {
		out.Members = append(out.Members, api.MemberInfo{ID: m.NodeID, Zone: m.Zone, Roles: m.Roles, HTTPAddr: m.HTTPAddr,
			RaftAddr: m.RaftAddr, Gossip: m.Addr, Capacity: m.Capacity, State: string(m.State), Since: m.Since.UTC().Format(time.RFC3339)})
	}
	return out
}
