// Package cluster is a node's membership of an rzone cluster: it runs
// commands on the meta group's leader from any node (member.go: Apply,
// forwarded to the leader's internal endpoint when this node does not
// lead; LeaderAPIAddr), creates a cluster (init.go: the plan of zones and
// meta voters, the first admin token, the bootstrap of every node's groups,
// the init command, the idempotent answer once it is done), keeps the
// records of operations (ops.go: their ids, their API form, their progress,
// waiting for one to finish or for the meta replica to catch up), shows the
// config store as the API lists it (config.go), reports the replicas this
// node hosts and the members gossip shows (nodes.go), knows which node
// answers for a zone and forwards a request there, following its leader
// (route.go; the relay itself is internal/peer's), streams a GET to a
// group's leader (stream.go: a snapshot), serves a user's request
// (request.go: the zone that owns the user, a write applied on the zone's
// leader, the replica a read is served from, or the zone to forward to;
// batch.go: a batch's items grouped by zone, applied one entry per zone
// this node leads, forwarded per zone otherwise), begins operations
// (beginop.go), maps node errors and command results to the API's errors
// (errors.go), describes the route table with each zone's leader
// (routetable.go), tells whether the node can serve every shard now
// (ready.go, /readyz), joins a standalone node to its zone (join.go) and
// keeps a standalone zone's registrations: the nodes' API addresses, its
// voters (standalone.go). It reaches the node only through
// Host, which server implements; server keeps the HTTP handlers.
//
// cluster imports fsm, zone and internal packages only, never server,
// scheduler, backup or client; TestClusterLinksNoNodePackages checks it.
package cluster
