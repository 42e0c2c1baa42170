package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// tokenVerbs is `rzone token`: create, list and revoke API tokens (an
// admin token is needed).
func tokenVerbs(f *clientFlags) *cobra.Command {
	var role, name string
	var expires time.Duration
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens"}
	create := &cobra.Command{
		Use:   "create",
		Short: "Make a token; its secret is shown this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			t, err := c.CreateToken(ctx, role, name, int64(expires/time.Second))
			if err != nil {
				return err
			}
			if f.output == "json" {
				return f.print(cmd.OutOrStdout(), t, nil, nil)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s (role %s); the secret, shown once:\n%s\n", t.ID, t.Role, t.Token)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, app, reader or metrics (required)")
	create.Flags().StringVar(&name, "name", "", "what the token is for")
	create.Flags().DurationVar(&expires, "expires-in", 0, "end the token after this long (0: never)")
	create.MarkFlagRequired("role")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			ts, err := c.Tokens(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, t := range ts {
				exp := "never"
				if t.ExpiresMs != 0 {
					exp = time.UnixMilli(t.ExpiresMs).UTC().Format(time.RFC3339)
				}
				rows = append(rows, []string{t.ID, t.Role, t.Name, time.UnixMilli(t.CreatedMs).UTC().Format(time.RFC3339), exp})
			}
			return f.print(cmd.OutOrStdout(), ts, []string{"ID", "ROLE", "NAME", "CREATED", "EXPIRES"}, rows)
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token; every node refuses it within a second",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			if err := c.RevokeToken(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
