// Package server is an rzone node: the Raft group of its zone over
// raft-boltdb and a TCP transport, the state machine of package fsm, the
// HTTP API, forwarding to the leader, linearizable reads, the poster that
// books payments into bills, the delivery of the outbox through a Notifier,
// and metrics.
//
// Any node serves any request. Writes go through Raft on the leader; a
// follower forwards them. A write whose fate is unknown (leadership lost
// mid-apply, a timeout) is answered unknown_outcome, never as a failure: the
// client retries it with the same idempotency key and the state machine
// returns the original result.
package server
