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
	for _, h := range n.hostedZones() {
		role := roleZone
		switch {
		case h.store:
			role = roleFailoverStore
		case !h.voter:
			role = roleAsyncFollower
		}
		r := imetrics.Replica{Group: "zone/" + h.zone, Role: role, Rep: h.rep, Applied: h.fsm.AppliedIndex}
		if n.clustered && h.voter {
			r.LeaseUntil = h.lease.Until
		}
		out = append(out, r)
	}
	return out
}
