// Command rzone-bench holds the benchmarks that do not belong in the server
// binary: `rzone-bench sched` runs the scheduler simulation
// (scheduler/sim) and draws its charts with gonum/plot, which rzone itself
// must not link (TestServerBinaryLinksNoGonum in cmd/rzone). The load
// benchmarks against a running cluster stay in rzone: `rzone bench pay`
// and `rzone bench job`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "rzone-bench",
		Short:         "rzone's offline benchmarks: the scheduler simulation",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newBenchSchedCmd())
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rzone-bench:", err)
		os.Exit(1)
	}
}
