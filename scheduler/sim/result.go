package sim

import "time"

// Result is what one run (scenario, strategy, seed) measured. Durations are virtual.
type Result struct {
	Scenario string
	Strategy string
	Seed     uint64

	// Makespan is from the start to the last user (call) finished.
	Makespan time.Duration
	// Drain is from the moment nothing was left to hand out to the end: for a pool, the
	// first time the pending queue ran dry with a slot idle; for a channel, the first
	// time every call had been dispatched at least once.
	Drain time.Duration
	// Last5 is from 95 % of the users (calls) finished to 100 %.
	Last5 time.Duration

	// Channel scenarios.
	Failed       int64         // failed attempts
	DeadLettered int64         // calls that failed every attempt
	Overload     time.Duration // time with more calls in flight than K
	BeyondWindow int64         // calls dispatched beyond the window inside the watched span

	// Pool scenarios.
	Slices int64 // tasks created
	Splits int64 // tails cut from running leases
	Twice  int64 // users processed again after a fenced execution: a departed machine's after its last checkpoint
	// TwiceUnfenced counts users processed twice by executions whose lease
	// was never fenced (a tail cut that overlapped, a completion counted
	// twice): a scheduler bug, so the target wants zero.
	TwiceUnfenced int64
	Ideal         time.Duration // total work ÷ total capacity

	// PerMinute is users (calls) finished successfully in each minute from the start.
	PerMinute []float64
}
