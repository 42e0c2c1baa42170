package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/money"
	"github.com/spf13/cobra"
)

// zoneVerbs are the failover commands: fail a zone over to its backup zone,
// reconcile it when it is back, and show a zone's failover state.
func zoneVerbs(f *clientFlags) *cobra.Command {
	zone := &cobra.Command{Use: "zone", Short: "Fail a zone over to its backup zone and reconcile it back"}
	step := func(use, short, example string, defWait time.Duration, run func(*client.Client, context.Context, string, time.Duration, ...client.FailoverOption) (*client.ZoneStatus, error)) *cobra.Command {
		var wait time.Duration
		cmd := &cobra.Command{
			Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := f.client()
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), wait+15*time.Second)
				defer cancel()
				start := time.Now()
				var opts []client.FailoverOption
				if f.output != "json" {
					// Each step of the operation as it goes.
					opts = append(opts, client.OnProgress(func(o *client.Operation) { fmt.Fprintln(cmd.ErrOrStderr(), opLine(o)) }))
				}
				zs, err := run(c, ctx, args[0], wait, opts...)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "zone %s is %s after %s\n", zs.Zone, zs.Phase, time.Since(start).Round(time.Millisecond))
				return showZone(cmd.OutOrStdout(), f, zs)
			},
		}
		cmd.Flags().DurationVar(&wait, "wait", defWait, "how long to wait for the step to finish")
		return cmd
	}
	var force bool
	failover := step("failover ZONE", "Route a zone's users to a failover store in its backup zone (after the zone's lease has ended; --force for a zone that still holds it)",
		"  rzone zone failover A\n  rzone zone failover A --force   # the zone still holds its lease: it looks healthy",
		30*time.Second, func(c *client.Client, ctx context.Context, z string, wait time.Duration, opts ...client.FailoverOption) (*client.ZoneStatus, error) {
			if force {
				opts = append(opts, client.Forced())
			}
			return c.FailoverZone(ctx, z, wait, opts...)
		})
	failover.Flags().BoolVar(&force, "force", false, "fail the zone over even though it holds a valid lease (it looks healthy; its writes move to the failover store)")
	zone.AddCommand(
		failover,
		step("recover ZONE", "Merge a failed-over zone's failover store back into it and route its users home",
			"  rzone zone recover A", 60*time.Second, (*client.Client).RecoverZone),
		&cobra.Command{
			Use: "show ZONE", Short: "Show a zone's phase and its latest failover", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx, cancel, c, err := f.session(cmd)
				if err != nil {
					return err
				}
				defer cancel()
				zs, err := c.Zone(ctx, args[0])
				if err != nil {
					return err
				}
				return showZone(cmd.OutOrStdout(), f, zs)
			},
		})
	return zone
}

func showZone(w io.Writer, f *clientFlags, zs *client.ZoneStatus) error {
	if f.output == "json" {
		return f.print(w, zs, nil, nil)
	}
	printFailover(w, zs)
	return nil
}

// printFailover writes a zone's phase and latest failover in a few lines.
func printFailover(w io.Writer, zs *client.ZoneStatus) {
	fmt.Fprintf(w, "zone %s: phase %s, %d shards, backup %s\n", zs.Zone, zs.Phase, len(zs.Shards), zs.Backup)
	fo := zs.Failover
	if fo == nil {
		return
	}
	how := "by command"
	if fo.Auto {
		how = "automatically"
	}
	fmt.Fprintf(w, "  failover %s at %s: store %s (seed %s), blacklist %d accounts\n", how, fo.Started, fo.Store, fo.Seed, fo.Blacklist)
	if fo.Payments > 0 || zs.Phase == "failover" {
		fmt.Fprintf(w, "  payments taken in failover: %d (amount %s)\n", fo.Payments, money.Format(fo.Amount))
	}
	if r := fo.Report; r != nil {
		fmt.Fprintf(w, "  reconciled at %s in %s: %d shards, %d accounts took the store's state, %d kept the zone's, %d payments merged, %d duplicates voided\n",
			fo.Recovered, time.Duration(r.DurationMs)*time.Millisecond, r.Shards, r.Taken, r.Kept, r.Merged, len(r.Voided))
		for _, v := range r.Voided {
			fmt.Fprintf(w, "    voided: user %d key %s amount %s (the zone's copy of %s stands)\n", v.User, v.Key, money.Format(v.Amount), money.Format(v.ZoneAmount))
		}
		if len(r.Violations) > 0 {
			fmt.Fprintf(w, "  GUARD INVARIANT VIOLATED for accounts %s (merged as if blacklisted)\n", strings.Trim(fmt.Sprint(r.Violations), "[]"))
		}
	}
}
