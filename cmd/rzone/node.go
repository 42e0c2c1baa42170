package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

// nodeVerbs are the node lifecycle commands: remove a node for good, drain
// it before maintenance, undrain it after.
func nodeVerbs(f *clientFlags) *cobra.Command {
	node := &cobra.Command{Use: "node", Short: "Remove, drain and undrain nodes"}
	drain := func(use, short, example string, run func(*client.Client, context.Context, string) (*client.NodeDrain, error)) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx, cancel, c, err := f.session(cmd)
				if err != nil {
					return err
				}
				defer cancel()
				d, err := run(c, ctx, args[0])
				if err != nil {
					return err
				}
				if f.output == "json" {
					return f.print(cmd.OutOrStdout(), d, nil, nil)
				}
				state := "drained"
				if !d.Drained {
					state = "undrained"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "node %s %s (meta index %d)\n", d.Node, state, d.Index)
				rows := [][]string{}
				for _, m := range d.Moved {
					rows = append(rows, []string{m.Group, m.To, m.Error})
				}
				if len(rows) == 0 {
					return nil
				}
				return f.print(cmd.OutOrStdout(), d, []string{"GROUP", "NEW LEADER", "ERROR"}, rows)
			},
		}
	}
	node.AddCommand(
		&cobra.Command{
			Use:   "remove ID",
			Short: "Remove a node, dead or live, from its zone, the meta group and every follower role, for good",
			Long: `Remove a node, dead or live, from the cluster for good: it leaves its zone's
group, the meta group and every async-follower role, and a spare node takes
its meta vote. Its id can never join again: start a replacement under a new
id with --gossip-join, and it joins its zone as a voter.`,
			Example: "  rzone node remove a3",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx, cancel, c, err := f.session(cmd)
				if err != nil {
					return err
				}
				defer cancel()
				rm, err := c.RemoveNode(ctx, args[0])
				if err != nil {
					return err
				}
				if f.output == "json" {
					return f.print(cmd.OutOrStdout(), rm, nil, nil)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "node %s removed (meta index %d); it leaves %s\n", rm.Node, rm.Index, strings.Join(rm.Groups, ", "))
				if rm.MetaVoter != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "node %s takes its meta vote\n", rm.MetaVoter)
				}
				return nil
			},
		},
		drain("drain ID", "Move the leadership of every group a node leads away; it then takes no leadership and no scheduler task",
			"  rzone node drain a1", (*client.Client).DrainNode),
		drain("undrain ID", "Let a drained node lead groups and take scheduler tasks again",
			"  rzone node undrain a1", (*client.Client).UndrainNode),
	)
	return node
}
