// Package zone holds what makes a zone: a replica of a Raft group
// (replica.go, over the log store of logstore.go: raft-wal in a new
// folder, raft-boltdb's raft.db in a folder that has one), the zone
// replicas a node hosts (replicaset.go, each a Hosted, hosted.go: its own zone's, the async followers and the own
// zone's shard ownership, and the node's converge round, Converger,
// converge.go; failover stores, store.go, and the
// series of the payments they accept, storemetrics.go; their states and
// the zone status, status.go; the hand-off of the node's leaderships and
// the groups' voters as nodes join and leave, drain.go; a node's removal,
// drain and undrain, nodeops.go; the booking of
// accepted payments into bills on the groups' leaders, post.go; the write
// gate of shard ownership and lease, gate.go), the
// promotion of a stopped replica into a new group on failover
// (promote.go), the guard marks a zone leader keeps in its backup zone
// (guard.go, carried there by guardkeeper.go, which proposes a node's
// writes after their marks, and marker.go, checked there by marks.go), the ownership leases a zone leader renews (lease.go), the
// meta leader's driver of failovers and reconciliations
// (failover.go, reconcile.go) and of shard moves (shardmove.go), the
// receiving side of a shard's moves and merges (shardops.go), and the
// Router of a one-zone deployment. The drivers reach the node they run on
// only through Host (host.go), the replica set through ReplicaHost, a
// hand-off through HandoffHost: the server implements them and keeps the
// HTTP handlers. A user's shard is user % fsm.NumShards; in cluster mode
// the meta group's route table (fsm.MetaState) says which zone owns each
// shard. See zone/DESIGN.md.
//
// zone imports fsm and internal packages only, never server, scheduler,
// backup or client; TestZoneLinksNoNodePackages checks it.
package zone
