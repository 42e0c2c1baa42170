// Package fsm is the deterministic state machine of one rzone zone: accounts,
// payments, bills and repayments over a bbolt file.
//
// A Raft log entry carries a versioned batch of commands (command.go). The
// FSM applies batches of entries into one open bbolt write transaction and
// stores the last applied log index in the same transaction (schema.go); it
// commits that transaction every so many commands or milliseconds and before
// anything reads the committed state (pending.go). The state file lags the
// fsynced log and never leads it, so a node that restarts after a crash
// replays its log and skips what its file already holds. Apply uses only what the
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
// (internal/api, internal/inject, internal/timeofday, internal/lease), never scheduler,
// server, zone, client or cmd; deps_test.go fails if it does. Design:
// docs/DESIGN.md.
//
// # The meta state machine
//
// The meta group's state machine (Meta, MetaState, MetaCmd) lives in the
// meta*.go files, apart from the zone's: it is held in memory and
// snapshotted as JSON, not kept in bbolt. Each file owns one concern:
//
//   - meta.go: the commands and their decoding, init, shard routes and
//     epochs, zone leases, config, shard moves (MetaMoveShard,
//     MetaFinishMove), apply and snapshots;
//   - meta_failover.go: a zone's failover phases (MetaFailover,
//     MetaPromote, MetaRecover, MetaFinishRecover, MetaGuardReady) and the
//     failover stores;
//   - meta_ops.go: persisted operations (failover, recover, shard move,
//     cluster init) with id, phase and progress, and MetaOpUpdate;
//   - meta_nodes.go: node removal, joining and draining;
//   - meta_tokens.go: API tokens (hashes only);
//   - meta_sched.go: batch runs, their ranges and task leases, which follow
//     the rules of internal/lease, the same functions the scheduler's
//     simulation runs (scheduler.Dispatcher);
//   - meta_digest.go: the digest that compares replicas.
//
// Its rules about routes (a refused command changes nothing; epochs never
// go back; a failover store's shard goes home only when its recovery ends)
// are checked after every command of seeded random walks
// (meta_routing_test.go).
package fsm
