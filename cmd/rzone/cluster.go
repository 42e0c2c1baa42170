package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

// clusterVerbs are the operator commands of a multi-zone cluster.
func clusterVerbs(f *clientFlags) []*cobra.Command {
	var zones string
	var expect int
	cluster := &cobra.Command{Use: "cluster", Short: "Create a multi-zone cluster"}
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the cluster from the nodes gossip has found",
		Long: `Create the cluster once all its nodes run: the meta group (three voters, one
per zone in turn), one Raft group per zone from the nodes of that zone, async
followers of each zone on the next zone's nodes (ring order of --zones), and
the route table with the 100 shards spread evenly. Running it again changes
nothing and prints the routes.`,
		Example: "  rzone cluster init --zones A,B,C --nodes 9 --addr 127.0.0.1:7070",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			rt, err := c.InitCluster(ctx, strings.Split(zones, ","), expect)
			if err != nil {
				return err
			}
			if rt.AdminToken != "" {
				saveAdminToken(cmd.ErrOrStderr(), rt.AdminToken)
			}
			return printRoutes(cmd, f, rt)
		},
	}
	initCmd.Flags().StringVar(&zones, "zones", "", "zones in ring order, comma separated (required)")
	initCmd.MarkFlagRequired("zones")
	initCmd.Flags().IntVar(&expect, "nodes", 0, "wait until gossip shows this many live nodes (0: take those alive now)")
	cluster.AddCommand(initCmd)

	status := &cobra.Command{
		Use:   "status",
		Short: "Show every zone: leader, voters, async followers and their lag, lease, shards",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			zl, err := c.Zones(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, z := range zl.Zones {
				for _, r := range append(append([]client.ReplicaState{}, z.Voters...), z.Followers...) {
					role := "voter"
					if !r.Voter {
						role = "follower"
					}
					lease := "-"
					if z.LeaseUntil != "" {
						lease = fmt.Sprintf("valid=%v", z.LeaseValid)
					}
					rows = append(rows, []string{z.Zone, fmt.Sprint(len(z.Shards)), z.Phase, lease, r.Node, role, r.State,
						strconv.FormatUint(r.AppliedIndex, 10), strconv.FormatUint(r.LagEntries, 10), contact(r.LastContactMs)})
				}
			}
			if err := f.print(cmd.OutOrStdout(), zl, []string{"ZONE", "SHARDS", "PHASE", "LEASE", "NODE", "ROLE", "STATE", "APPLIED", "LAG", "CONTACT"}, rows); err != nil {
				return err
			}
			if f.output == "table" {
				fmt.Fprintf(cmd.OutOrStdout(), "route epoch %d\n", zl.Epoch)
				for i := range zl.Zones {
					if z := &zl.Zones[i]; z.Failover != nil || z.Phase != "normal" {
						printFailover(cmd.OutOrStdout(), z)
					}
				}
			}
			return nil
		},
	}

	members := &cobra.Command{
		Use:   "members",
		Short: "Show the gossip membership: who is alive, zone, roles, addresses",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			ml, err := c.Members(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, m := range ml.Members {
				rows = append(rows, []string{m.ID, m.Zone, m.State, m.HTTPAddr, m.RaftAddr, m.Gossip, strings.Join(m.Roles, ",")})
			}
			return f.print(cmd.OutOrStdout(), ml, []string{"NODE", "ZONE", "STATE", "API", "RAFT", "GOSSIP", "ROLES"}, rows)
		},
	}

	routes := &cobra.Command{
		Use:   "routes",
		Short: "Show the route table: shard → zone, epochs, zone leaders",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			rt, err := c.Routes(ctx)
			if err != nil {
				return err
			}
			return printRoutes(cmd, f, rt)
		},
	}

	shard := &cobra.Command{Use: "shard", Short: "Move shards between zones"}
	shard.AddCommand(&cobra.Command{
		Use:     "move SHARD ZONE",
		Short:   "Move a shard to another zone, safely under load",
		Example: "  rzone shard move 17 C",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := strconv.Atoi(args[0])
			if err != nil || s < 0 || s > 99 {
				return fmt.Errorf("shard %q: want 0 to 99", args[0])
			}
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			start := time.Now()
			var opts []client.MoveOption
			if f.output != "json" {
				// Each step of the move as it goes.
				opts = append(opts, client.MoveProgress(func(o *client.Operation) { fmt.Fprintln(cmd.ErrOrStderr(), opLine(o)) }))
			}
			rt, err := c.MoveShard(ctx, s, args[1], opts...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "shard %d moved to %s in %s (route epoch %d)\n", s, args[1], time.Since(start).Round(time.Millisecond), rt.Epoch)
			return nil
		},
	})
	config := &cobra.Command{Use: "config", Short: "Read and write the cluster's versioned config store"}
	var version uint64
	set := &cobra.Command{
		Use: "set KEY VALUE", Short: "Write a config key (with --version, only if it is at that version)", Args: cobra.ExactArgs(2),
		Example: "  rzone config set sched/window/bank '00:30-06:00=800,06:00-23:30=250'",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			it, err := c.SetConfig(ctx, args[0], args[1], version)
			if err != nil {
				return err
			}
			return printConfig(cmd, f, it, []client.ConfigItem{*it})
		},
	}
	set.Flags().Uint64Var(&version, "version", 0, "compare-and-set: write only if the key is at this version")
	config.AddCommand(set, &cobra.Command{
		Use: "get KEY", Short: "Read a config key", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			it, err := c.GetConfig(ctx, args[0])
			if err != nil {
				return err
			}
			return printConfig(cmd, f, it, []client.ConfigItem{*it})
		},
	}, &cobra.Command{
		Use: "list", Short: "List every config key", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			items, err := c.ListConfig(ctx)
			if err != nil {
				return err
			}
			return printConfig(cmd, f, items, items)
		},
	})
	return []*cobra.Command{cluster, status, members, routes, shard, config}
}

func contact(ms *int64) string {
	switch {
	case ms == nil:
		return "never"
	case *ms == 0:
		return "-"
	}
	return (time.Duration(*ms) * time.Millisecond).String()
}

func printRoutes(cmd *cobra.Command, f *clientFlags, rt *client.RouteTable) error {
	count := map[string]int{}
	for _, s := range rt.Shards {
		count[s.Zone]++
	}
	var rows [][]string
	for _, z := range rt.Zones {
		rows = append(rows, []string{z.Zone, z.Backup, strconv.Itoa(count[z.Zone]), z.Leader, z.LeaderHTTP, strings.Join(z.Nodes, ",")})
	}
	if err := f.print(cmd.OutOrStdout(), rt, []string{"ZONE", "BACKUP", "SHARDS", "LEADER", "LEADER_API", "NODES"}, rows); err != nil {
		return err
	}
	if f.output == "table" {
		fmt.Fprintf(cmd.OutOrStdout(), "route epoch %d\n", rt.Epoch)
	}
	return nil
}

func printConfig(cmd *cobra.Command, f *clientFlags, v any, items []client.ConfigItem) error {
	var rows [][]string
	for _, it := range items {
		rows = append(rows, []string{it.Key, strconv.FormatUint(it.Version, 10), it.Value})
	}
	return f.print(cmd.OutOrStdout(), v, []string{"KEY", "VERSION", "VALUE"}, rows)
}

// saveAdminToken shows the cluster's first admin token, once, and writes
// it 0600 to the token file the CLI reads by default (unless one is
// there already).
func saveAdminToken(w io.Writer, token string) {
	fmt.Fprintf(w, "admin token (shown once): %s\n", token)
	path := tokenFile()
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(w, "%s exists; left as it is\n", path)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
		if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err == nil {
			fmt.Fprintf(w, "written to %s (the CLI reads it by default)\n", path)
			return
		}
	}
	fmt.Fprintf(w, "could not write %s; keep the token safe yourself\n", path)
}
