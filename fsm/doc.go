// Package fsm is the deterministic state machine of one rzone zone: accounts,
// payments, bills and repayments over a bbolt file.
//
// A Raft log entry carries a versioned batch of commands (command.go). The
// FSM applies whole batches of entries in one bbolt transaction and stores
// the last applied log index in the same transaction (schema.go), so a node
// that restarts skips what its file already holds. Apply uses only what the
// entry carries: the leader stamps the time into each command, bbolt keys are
// walked in byte order, and nothing reads the wall clock, a map's order or a
// random source.
//
// Content that came from a request never stops a replica (validate.go):
// every command is checked by Validate before it is proposed and again
// first thing in apply, which answers Invalid for one that fails (the entry
// still counts as applied, alike on every replica). Apply panics only where
// rzone itself went wrong, and says so at each panic: a bbolt write that
// failed, a stored record or account that no validated command could have
// produced, an entry written by a newer version. Panicking there is better
// than letting the replicas diverge.
//
// Business outcomes (a declined payment, an overpaid repayment, a reused key)
// are results, not errors: they are decided once, stored under the
// idempotency key where the API says they are, and replayed identically.
//
// fsm sits at the bottom of rzone: it imports only internal helpers
// (internal/api, internal/inject, internal/timeofday), never scheduler,
// server, zone, client or cmd; deps_test.go fails if it does. The meta
// group's state machine (meta*.go: routes, leases, failover phases, config,
// batch runs) lives here too. Design: docs/DESIGN.md.
package fsm
