// Package run is the runtime of rzone's batch scheduler on a cluster node:
// the scheduler leader's loops (resume, lease expiry, generation of tasks,
// leasing under the concurrency limits), the worker that runs leased tasks
// of its own zone, the effects a zone leader applies for them (statements,
// reminders, auto-debits through the bank), and the delivery of the outbox
// through a Notifier, and what the node's scheduler endpoints serve (the
// runs' progress and a zone leader's page of due users, with the zone's
// count for generation's load of a whole shard and without for a task's,
// view.go; the internal API's paths, bodies and their checks, host.go).
// The pure logic it drives (limiter, slicer, retry policy) is package scheduler; the replicated state is fsm/meta_sched.go
// and fsm/delivered.go, whose task leases follow internal/lease, the rules the
// simulation's Dispatcher runs too.
//
// The runtime reaches the node through Host, declared here: the meta
// group's state and log, the node's calls to other nodes, the zone groups
// it leads, its logger, metrics registry and clock. It imports no server,
// zone or client package (TestRunImportsNoNodePackage).
package run
