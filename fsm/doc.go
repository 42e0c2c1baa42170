// Package fsm is the deterministic state machine of one rzone zone: accounts,
// payments, bills and repayments over a bbolt file.
//
// A Raft log entry carries a versioned batch of commands (command.go). The
// FSM applies whole batches of entries in one bbolt transaction and stores
// the last applied log index in the same transaction (schema.go), so a node
// that restarts skips what its file already holds. Apply uses only what the
// entry carries: the leader stamps the time into each command, bbolt keys are
// walked in byte order, and nothing reads the wall clock, a map's order or a
// random source. An impossible state panics rather than let replicas diverge.
//
// Business outcomes (a declined payment, an overpaid repayment, a reused key)
// are results, not errors: they are decided once, stored under the
// idempotency key where the API says they are, and replayed identically.
package fsm
