// Package clock is rzone's source of time outside the state machines (which
// take time from the log). Production builds read the system clock. A
// faultinject build can skew the wall clock by an offset and scale the
// passing of monotonic time by a rate, so fault tests can give one node a
// clock that is off or that runs fast or slow (Go reads the clock without
// libc, so libfaketime cannot do this from outside).
//
// clock imports no other rzone package.
package clock

import "time"

var base = time.Now()

// Now is the wall-clock time, skewed in fault-test builds.
func Now() time.Time { return time.Now().Add(skew()) }

// Mono is the time since the process started by the monotonic clock, in
// nanoseconds, scaled by the clock rate in fault-test builds. Leases are
// measured with it, so a wall-clock step cannot stretch one.
func Mono() int64 { return int64(float64(time.Since(base)) * rate()) }
