// Package scheduler is the pure logic of rzone's batch scheduler (statements, reminders,
// auto-debits over tens of millions of users): the per-downstream concurrency limit, the
// retry policy, the slicing of user ranges into tasks and the dispatch of tasks to worker
// slots under leases. Nothing here reads a clock, draws a random number, starts a
// goroutine or talks to a network: time comes in as arguments, and the interfaces the
// package needs (Limit, Slicer) are small and declared here, where they are consumed.
// The cluster scheduler (scheduler/run, on the meta group's leader) and the
// virtual-clock simulation in scheduler/sim (`rzone-bench sched`) share the limit
// (Limiter, Adaptive, Schedule), the retry policy and the SmartSlicer's sizing, and one
// task-lease engine: the rules of internal/lease (grant with a fencing id and a
// deadline, expiry once past the deadline, fencing of a report that names another
// lease, term or an expired one, checkpoints that extend the deadline, take-back of the
// users after the last checkpoint, completion). The cluster applies them in the meta
// state machine (fsm/meta_sched.go, replicated, so a new scheduler leader resumes from
// it); the simulation applies them in the Dispatcher below, which adds only what the
// meta state does elsewhere (worker slots, an expiry heap, slicing). So the
// simulation's figures on leasing are those of the cluster's rules. scheduler/run's
// TestLeaseEnginesAgree runs one lease, checkpoint, expiry (at and after the deadline),
// take-back, fencing and completion sequence through both entry points and requires
// the same answers.
//
// The concurrency limit towards a downstream such as a bank channel is the minimum of a
// time-window Schedule that operations configure and an Adaptive limit that backs off
// fast on failures and latency growth and probes up slowly (Limiter). The Dispatcher
// leases tasks to free slots, takes them back when a lease expires, and lets the Slicer
// size tasks from the online slots, their observed rates and the pending work
// (SmartSlicer), cutting the tail off running tasks at their renewals so that a run ends
// on small tasks instead of waiting on a large one; FixedSlicer is the baseline.
//
// scheduler imports only internal/timeofday and internal/lease: never fsm,
// scheduler/run, server, zone or client (deps_test.go).
package scheduler
