// Package scheduler is the pure logic of rzone's batch scheduler (statements, reminders,
// auto-debits over tens of millions of users): the per-downstream concurrency limit, the
// retry policy, the slicing of user ranges into tasks and the dispatch of tasks to worker
// slots under leases. Nothing here reads a clock, draws a random number, starts a
// goroutine or talks to a network: time comes in as arguments, and the interfaces the
// package needs (Limit, Slicer) are small and declared here, where they are consumed.
// The cluster scheduler (scheduler/run, on the meta group's leader) and the
// virtual-clock simulation in scheduler/sim (`rzone-bench sched`) share the limit
// (Limiter, Adaptive, Schedule), the retry policy and the SmartSlicer's sizing. They do
// not share the leasing of tasks: the cluster leases, renews, expires and takes back
// tasks in the meta state machine (fsm/meta_sched.go, replicated, so a new scheduler
// leader resumes from it), while the simulation uses the Dispatcher below. The two
// engines follow the same rules (a lease per task, expiry by a deadline, take-back of
// expired tasks, fencing of a stale holder), but the simulation's figures on leasing
// are those of the Dispatcher, not of fsm's engine; making them one engine is open.
// scheduler/run's TestLeaseEnginesAgree runs one lease, checkpoint, expiry, take-back,
// fencing and completion sequence through both and requires the same answers.
//
// The concurrency limit towards a downstream such as a bank channel is the minimum of a
// time-window Schedule that operations configure and an Adaptive limit that backs off
// fast on failures and latency growth and probes up slowly (Limiter). The Dispatcher
// leases tasks to free slots, takes them back when a lease expires, and lets the Slicer
// size tasks from the online slots, their observed rates and the pending work
// (SmartSlicer), cutting the tail off running tasks at their renewals so that a run ends
// on small tasks instead of waiting on a large one; FixedSlicer is the baseline.
//
// scheduler imports only internal/timeofday: never fsm, scheduler/run,
// server, zone or client.
package scheduler
