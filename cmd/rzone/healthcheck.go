package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

// newHealthcheckCmd is `rzone healthcheck`: a container's health check,
// for images that have no shell or curl (the scratch image).
func newHealthcheckCmd() *cobra.Command {
	var addr, token, ca string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the node at --addr is ready (GET /readyz), 1 if not: for container health checks",
		Long: `Ask the node at --addr whether it is ready (GET /readyz): whether a user
request of every shard can be served now, through it. Exit 0 when it is,
1 (Docker's "unhealthy") when it is not or cannot be reached. A node is
not ready before the cluster is initialized. With --ca (env RZONE_CA) it
speaks HTTPS; /readyz needs no token.`,
		Example: "  HEALTHCHECK CMD [\"/rzone\", \"healthcheck\"]",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := clientOptions(token, ca)
			if err != nil {
				return err
			}
			c, err := client.New([]string{addr}, append(opts, client.WithMaxRetries(0), client.WithTimeout(timeout))...)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := c.Ready(ctx, addr); err != nil {
				// Not wrapped: any failure is exit 1, the code Docker reads
				// as unhealthy (rzone's other codes mean nothing to it).
				return errors.New("not ready: " + strings.TrimSpace(err.Error()))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ready")
			return nil
		},
	}
	addrFlags(cmd.Flags(), &addr, &token, &ca)
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}
