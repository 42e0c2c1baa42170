// Package sim is the scheduler's benchmark: a discrete-event simulation on a virtual
// clock that runs package scheduler's own limiter, retry policy, slicers and dispatcher
// (whose leases follow the cluster's rules, internal/lease) against a simulated bank channel (scenario A: capacity by time of day, latency and
// failures that grow past it) and a simulated worker pool (scenario B: uneven machines,
// pauses, machines leaving and joining), so that hours of batch work take a fraction of
// a second. The scenarios are those of docs/scheduler-scenarios.md, read from
// YAML or JSON; the defaults are embedded from scenarios/*.yaml. Every random draw comes
// from a seed, and every strategy of a seed sees the same channel noise, machines and
// pauses.
//
// The simulation works in aggregates to stay fast: channel calls that are sent at the
// same instant with the same outcome travel as one cohort (each call's failure is still
// drawn on its own), and a pool slice costs events per slice and per renewal, not per
// user, its progress between pauses being a closed form.
//
// scheduler/sim imports only scheduler: never scheduler/run, fsm, server,
// zone or client.
package sim
