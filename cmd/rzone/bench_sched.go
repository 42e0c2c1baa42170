package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newBenchSchedCmd is a placeholder replaced by the scheduler simulation.
func newBenchSchedCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sched",
		Short: "Scheduler simulation benchmark (virtual clock)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("bench sched: not built yet")
		},
	}
}
