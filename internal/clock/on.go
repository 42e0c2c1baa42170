//go:build faultinject

package clock

import (
	"math"
	"sync/atomic"
	"time"
)

var (
	skewNs   atomic.Int64
	rateBits atomic.Uint64
)

func init() { rateBits.Store(math.Float64bits(1)) }

func skew() time.Duration { return time.Duration(skewNs.Load()) }
func rate() float64       { return math.Float64frombits(rateBits.Load()) }

// Skew sets the wall-clock offset (fault-test builds only).
func Skew(d time.Duration) { skewNs.Store(int64(d)) }

// SetRate sets how fast monotonic time passes relative to real time, e.g.
// 0.9 for a clock 10% slow (fault-test builds only).
func SetRate(r float64) { rateBits.Store(math.Float64bits(r)) }
