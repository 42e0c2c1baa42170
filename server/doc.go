// Package server is an rzone node: it hosts replicas (zone.Replica over the
// state machines of package fsm: the meta group, and in a zone.ReplicaSet
// its zone, async followers, failover stores), serves the HTTP API,
// forwards to leaders, serves linearizable reads, runs the poster that
// books payments into bills (zone.ReplicaSet.Post), hosts the zone drivers
// (package zone, through zonehost.go) and the batch scheduler's runtime
// (package scheduler/run, through sched_host.go), and serves metrics (its
// series and the raft replicas' collector are internal/metrics). Its
// background components run as services (internal/service, service.go).
// Its membership of the cluster (meta commands, the init, operations,
// which node answers for a zone and the forwarding there, what to do with
// a user's request: its zone, a write applied on the zone's leader, the
// replica a read is served from, a batch settled zone by zone, the API
// errors of node errors; the route table, readiness, the standalone join
// and registrations) is package cluster, through cluster.go; server's
// handlers decode, call it and encode. Calls to other
// nodes go through internal/peer, which also relays a forwarded request.
//
// server is the top of the node: nothing in fsm, zone, cluster, scheduler,
// backup or internal may import it; only cmd/ and tests do.
//
// Any node serves any request. Writes go through Raft on the leader; a
// follower forwards them. A write whose fate is unknown (leadership lost
// mid-apply, a timeout) is answered unknown_outcome, never as a failure: the
// client retries it with the same idempotency key and the state machine
// returns the original result.
//
// A node runs secure (Config.CertsDir: TLS on the API, mutual TLS to other
// nodes through internal/peer and internal/mux, encrypted gossip) or, only
// when told so (Config.Insecure), open. auth.go lists every route with the
// access it requires and wires the check of it (internal/auth's Guard:
// tokens, roles, the failure limiter) to the node; the tokens' hashes live
// in the meta group (tokens_endpoint.go); /v1/internal/* takes only node
// certificates. The handlers' generic helpers (reading a request, writing
// a reply) are internal/api's. A group's leader serves a snapshot through
// backup.Save; an offline restore is package backup too.
package server
