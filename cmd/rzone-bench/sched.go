package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rzonedb/rzone/scheduler/sim"
)

// newBenchSchedCmd runs the scheduler's own slicing, limiter and dispatch code against
// a simulated bank channel and worker pool on a virtual clock (scheduler/sim).
func newBenchSchedCmd() *cobra.Command {
	var (
		files []string
		seeds int
		out   string
	)
	cmd := &cobra.Command{
		Use:   "sched",
		Short: "Scheduler simulation benchmark (virtual clock)",
		Long: `Runs the scenarios of docs/scheduler-scenarios.md (or the files given with
--scenario, YAML or JSON) against the scheduler package on a virtual clock, prints a
table and the targets per scenario, writes PNG charts to --out, and ends with the line
"makespan ratio: X.XX  drain ratio: Y.YY". Progress goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seeds < 1 {
				return fmt.Errorf("bench sched: --seeds %d: want at least 1", seeds)
			}
			scenarios, err := sim.Defaults()
			if len(files) > 0 {
				scenarios = nil
				for _, f := range files {
					s, lerr := sim.Load(f)
					if lerr != nil {
						return lerr
					}
					scenarios = append(scenarios, s)
				}
			} else if err != nil {
				return err
			}
			rep, err := sim.Run(cmd.Context(), scenarios, sim.Options{
				Seeds: sim.Seeds(seeds), Out: out, Progress: os.Stderr,
			})
			if err != nil {
				return fmt.Errorf("bench sched: %w", err)
			}
			return rep.Write(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringArrayVar(&files, "scenario", nil, "scenario file, YAML or JSON (repeatable; default: the built-in scenarios)")
	cmd.Flags().IntVar(&seeds, "seeds", 8, "number of seeds (1..N); figures are medians over them")
	cmd.Flags().StringVar(&out, "out", "./out/bench-sched", "folder for the PNG charts")
	return cmd
}
