package server

import (
	imetrics "github.com/rzonedb/rzone/internal/metrics"
)

// Roles a node hosts a group in, the role label of the raft series.
const (
	roleZone          = "zone"           // a voter of the node's own zone
	roleMeta          = "meta"           // the meta group
	roleAsyncFollower = "async_follower" // a non-voter of a zone this node's zone backs up
	roleFailoverStore = "failover_store" // a voter of a failover store
)

// replicas lists every group this node hosts now, for the raft series
// (internal/metrics.RaftCollector).
func (n *Node) replicas() []imetrics.Replica {
	var out []imetrics.Replica
	if n.meta != nil && n.metaFSM != nil {
		out = append(out, imetrics.Replica{Group: "meta", Role: roleMeta, Rep: n.meta, Applied: n.metaFSM.AppliedIndex})
	}
	for _, h := range n.zones.List() {
		role := roleZone
		switch {
		case h.Store():
			role = roleFailoverStore
		case !h.Voter():
			role = roleAsyncFollower
		}
		r := imetrics.Replica{Group: "zone/" + h.Name(), Role: role, Rep: h.Replica(), Applied: h.FSM().AppliedIndex}
		if n.clustered && h.Voter() {
			r.LeaseUntil = h.Lease().Until
		}
		out = append(out, r)
	}
	return out
}
