//go:build faultinject

package inject

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/internal/clock"
)

// Enabled is true: this is a fault-injection build, never to be deployed.
const Enabled = true

var active atomic.Pointer[[]string]

// On reports whether fault name is switched on.
func On(name string) bool {
	p := active.Load()
	return p != nil && slices.Contains(*p, name)
}

// Set switches faults on by a comma-separated list of names, replacing any
// set before.
func Set(names string) error {
	var list []string
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		n, arg, hasArg := strings.Cut(n, "=")
		if !slices.Contains(Known, n) {
			return fmt.Errorf("unknown fault %q (known: %s)", n, strings.Join(Known, ", "))
		}
		switch n {
		case ClockSkew:
			d, err := time.ParseDuration(arg)
			if !hasArg || err != nil {
				return fmt.Errorf("%s needs =DURATION, e.g. %s=-2s", n, n)
			}
			clock.Skew(d)
		case ClockRate:
			r, err := strconv.ParseFloat(arg, 64)
			if !hasArg || err != nil || r <= 0 {
				return fmt.Errorf("%s needs =FACTOR > 0, e.g. %s=0.9", n, n)
			}
			clock.SetRate(r)
		}
		list = append(list, n)
	}
	active.Store(&list)
	return nil
}
