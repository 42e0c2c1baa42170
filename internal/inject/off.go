//go:build !faultinject

package inject

import "fmt"

// Enabled is false: this build carries no faults.
const Enabled = false

// On reports whether fault name is switched on; never in this build.
func On(name string) bool { return false }

// Set switches faults on by a comma-separated list of names. This build
// refuses any.
func Set(names string) error {
	if names == "" {
		return nil
	}
	return fmt.Errorf("fault injection %q needs a binary built with -tags faultinject", names)
}
