// Command rzone is the rzone server, its development cluster, its client
// verbs and its load benchmarks, in one binary. The scheduler simulation,
// which draws charts with gonum/plot, is cmd/rzone-bench.
package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code (exit.go).
func run(args []string, stdout, stderr io.Writer) int {
	root, cf := newRoot()
	ran := false
	root.PersistentPreRun = func(*cobra.Command, []string) { ran = true }
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		return reportError(err, ran, cf.output == "json" || wantsJSON(args), stdout, stderr)
	}
	return exitOK
}

// wantsJSON reports whether args ask for JSON output, for an error found
// before the flags were parsed.
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "-ojson", a == "--output=json", a == "-o=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}
