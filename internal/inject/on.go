//go:build faultinject

package inject

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
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
		if !slices.Contains(Known, n) {
			return fmt.Errorf("unknown fault %q (known: %s)", n, strings.Join(Known, ", "))
		}
		list = append(list, n)
	}
	active.Store(&list)
	return nil
}
