// Package server is an rzone node: the Raft group of its zone over
// raft-boltdb and a TCP transport, the state machine of package fsm, the
// HTTP API, forwarding to the leader, linearizable reads, the poster that
// books payments into bills, the internal endpoints of the batch scheduler
// whose runtime (and the outbox's delivery) is package scheduler/run, and
// metrics.
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
// access it requires and checks bearer tokens (their format, the roles each
// access allows and the failure limiter are internal/auth), whose hashes
// live in the meta group (tokens_endpoint.go); /v1/internal/* takes only
// node certificates. An offline restore is package backup.
package server
