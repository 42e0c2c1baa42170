package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

// opVerbs follow the long admin operations: failovers, recoveries, shard
// moves and the cluster's init, as the meta group records them.
func opVerbs(f *clientFlags) *cobra.Command {
	op := &cobra.Command{Use: "op", Short: "Follow long operations: failover, recover, shard move, cluster init"}
	op.AddCommand(&cobra.Command{
		Use: "list", Short: "List the operations under way and the latest finished ones", Args: cobra.NoArgs,
		Example: "  rzone op list",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			ops, err := c.Ops(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, o := range ops {
				rows = append(rows, []string{o.ID, o.Kind, opTarget(&o), o.Phase, strconv.Itoa(o.Progress) + "%", o.Started, o.Error})
			}
			return f.print(cmd.OutOrStdout(), client.OperationList{Operations: ops}, []string{"ID", "KIND", "TARGET", "PHASE", "PROGRESS", "STARTED", "ERROR"}, rows)
		},
	})
	var watch bool
	show := &cobra.Command{
		Use: "show ID", Short: "Show an operation; with --watch, its progress until it is done", Args: cobra.ExactArgs(1),
		Example: "  rzone op show 3f2a9c0d41b7e655\n  rzone op show 3f2a9c0d41b7e655 --watch",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			// Watching lasts until the operation is done, unless
			// --timeout is given.
			ctx, cancel := context.WithCancel(cmd.Context())
			if !watch || cmd.Flags().Changed("timeout") {
				ctx, cancel = context.WithTimeout(cmd.Context(), f.timeout)
			}
			defer cancel()
			o, err := c.Op(ctx, args[0], 0)
			if err != nil {
				return err
			}
			if watch {
				var progress func(*client.Operation)
				if f.output != "json" {
					progress = func(o *client.Operation) { fmt.Fprintln(cmd.OutOrStdout(), opLine(o)) }
				}
				if o, err = c.WaitOp(ctx, o, 0, progress); err != nil {
					return err
				}
				if !o.Done {
					return fmt.Errorf("operation %s is still %s (%d%%): %w", o.ID, o.Phase, o.Progress, ctx.Err())
				}
			}
			return showOp(cmd.OutOrStdout(), f, o)
		},
	}
	show.Flags().BoolVarP(&watch, "watch", "w", false, "print each step and its progress until the operation is done")
	op.AddCommand(show)
	return op
}

// opTarget is what an operation works on, a shard move with its zones.
func opTarget(o *client.Operation) string {
	if o.From != "" || o.To != "" {
		return fmt.Sprintf("%s %s→%s", o.Target, o.From, o.To)
	}
	return o.Target
}

// opLine is one line of an operation's progress.
func opLine(o *client.Operation) string {
	s := fmt.Sprintf("%s %s %s: %s %d%%", o.ID, o.Kind, opTarget(o), o.Phase, o.Progress)
	if o.Detail != "" {
		s += " — " + o.Detail
	}
	if o.Error != "" {
		s += " (retrying after: " + o.Error + ")"
	}
	return s
}

func showOp(w io.Writer, f *clientFlags, o *client.Operation) error {
	if f.output == "json" {
		return f.print(w, o, nil, nil)
	}
	fmt.Fprintf(w, "operation %s: %s of %s\n", o.ID, o.Kind, opTarget(o))
	fmt.Fprintf(w, "  phase %s, %d%%", o.Phase, o.Progress)
	if o.Detail != "" {
		fmt.Fprintf(w, ": %s", o.Detail)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  started %s", o.Started)
	if o.Finished != "" {
		fmt.Fprintf(w, ", finished %s", o.Finished)
	}
	fmt.Fprintln(w)
	if o.Error != "" {
		fmt.Fprintf(w, "  last error (its driver retries): %s\n", o.Error)
	}
	return nil
}
