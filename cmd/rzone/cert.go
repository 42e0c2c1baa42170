package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/rzonedb/rzone/internal/auth"
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
	var tokenPath string
	bootstrap := &cobra.Command{
		Use:   "bootstrap HOST...",
		Short: "Make, unless already there, a CA, one node certificate for HOSTs and an admin token file (one trust domain, e.g. docker-compose)",
		Long: `Make, in --certs-dir, what a small cluster in one trust domain needs to run
secure, unless it is there from an earlier run: a CA and gossip key, one
node certificate valid for every HOST that all nodes share, and an admin
token file (admin.token, 0600) for --bootstrap-token-file and the CLI's
RZONE_TOKEN_FILE. The CA key is removed once the node certificate is made,
so the folder can be mounted into every node. Run again, it changes nothing.
A production cluster makes one certificate per node with create-node.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := need(); err != nil {
				return err
			}
			made, err := bootstrapCerts(dir, tokenPath, args)
			if err != nil {
				return err
			}
			if made {
				fmt.Fprintf(cmd.OutOrStdout(), "CA, node certificate for %s and admin token in %s\n", strings.Join(args, ", "), dir)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is set up already; nothing changed\n", dir)
			}
			return nil
		},
	}
	bootstrap.Flags().StringVar(&tokenPath, "token-file", "", "where to write the admin token (default CERTS_DIR/admin.token)")
	cmd.AddCommand(createCA, createNode, createClient, list, bootstrap)
	return cmd
}

// bootstrapCerts makes dir's CA, shared node certificate and admin token
// file unless the node certificate and token file are there already, and
// reports whether it made them.
func bootstrapCerts(dir, tokenPath string, hosts []string) (bool, error) {
	if tokenPath == "" {
		tokenPath = filepath.Join(dir, "admin.token")
	}
	_, certErr := os.Stat(filepath.Join(dir, certs.NodeFile))
	_, tokenErr := os.Stat(tokenPath)
	if certErr == nil && tokenErr == nil {
		return false, nil
	}
	if certErr == nil || tokenErr == nil {
		return false, fmt.Errorf("%s is half set up (a node certificate or a token file without the other); remove it and run again", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	if err := certs.CreateCA(dir); err != nil && !errors.Is(err, certs.ErrExists) {
		return false, err
	}
	if err := certs.CreateNode(dir, "node", hosts); err != nil {
		return false, err
	}
	if err := os.Remove(filepath.Join(dir, certs.CAKeyFile)); err != nil {
		return false, err
	}
	return true, os.WriteFile(tokenPath, []byte(auth.NewToken()+"\n"), 0o600)
}
