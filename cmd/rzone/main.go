// Command rzone is the rzone server, its development cluster, its client
// verbs and its benchmarks, in one binary.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "rzone:", err)
		os.Exit(1)
	}
}
