package main

import (
	"fmt"

	"github.com/rzonedb/rzone/internal/buildinfo"
	"github.com/spf13/cobra"
)

// versionLine is what `rzone version` and `rzone --version` print.
func versionLine() string {
	b := buildinfo.Get()
	return fmt.Sprintf("rzone %s (revision %s, %s)\n", b.Version, b.Revision, b.Go)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the revision it was built from and the Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionLine())
			return err
		},
	}
}
