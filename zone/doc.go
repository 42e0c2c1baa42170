// Package zone holds what makes a zone: a replica of a Raft group
// (replica.go), the promotion of a stopped replica into a new group on
// failover (promote.go), the guard marks a zone leader keeps in its backup
// zone (guard.go), and the Router of a one-zone deployment. A user's shard is
// user % fsm.NumShards; in cluster mode the meta group's route table
// (fsm.MetaState) says which zone owns each shard. See zone/DESIGN.md.
package zone
