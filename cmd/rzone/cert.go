package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/rzonedb/rzone/internal/certs"
	"github.com/spf13/cobra"
)

// newCertCmd is `rzone cert`: the cluster CA, node and client
// certificates (internal/certs).
func newCertCmd() *cobra.Command {
	var dir, nodeID string
	cmd := &cobra.Command{Use: "cert", Short: "Make the cluster CA, node and client certificates"}
	cmd.PersistentFlags().StringVar(&dir, "certs-dir", os.Getenv("RZONE_CERTS_DIR"), "certs folder (env RZONE_CERTS_DIR)")
	need := func() error {
		if dir == "" {
			return usage(fmt.Errorf("--certs-dir is required"))
		}
		return nil
	}
	createCA := &cobra.Command{
		Use:   "create-ca",
		Short: "Make a cluster CA (10 years, ECDSA P-256) and the gossip key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := need(); err != nil {
				return err
			}
			if err := certs.CreateCA(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA and gossip key in %s; keep %s off the nodes once their certificates are made\n", dir, certs.CAKeyFile)
			return nil
		},
	}
	createNode := &cobra.Command{
		Use:   "create-node HOST...",
		Short: "Make a node certificate for every address the node listens or advertises on",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := need(); err != nil {
				return err
			}
			if nodeID == "" {
				return usage(fmt.Errorf("--node-id is required"))
			}
			if err := certs.CreateNode(dir, nodeID, args); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node certificate of %s for %s in %s\n", nodeID, strings.Join(args, ", "), dir)
			return nil
		},
	}
	createNode.Flags().StringVar(&nodeID, "node-id", "", "the node's id (required)")
	createClient := &cobra.Command{
		Use:   "create-client NAME",
		Short: "Make a client certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := need(); err != nil {
				return err
			}
			return certs.CreateClient(dir, args[0])
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the certificates of a certs folder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := need(); err != nil {
				return err
			}
			infos, err := certs.List(dir)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "FILE\tKIND\tNAME\tHOSTS\tEXPIRES")
			for _, in := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.File, in.Kind, in.Name, strings.Join(in.Hosts, ","), in.NotAfter.Format("2006-01-02"))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(createCA, createNode, createClient, list)
	return cmd
}
