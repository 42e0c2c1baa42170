package main

import "github.com/spf13/cobra"

// newRootCmd builds the command tree. Each subcommand lives in its own file
// and is added here, so this list is the table of contents of the CLI.
func newRootCmd() *cobra.Command {
	root, _ := newRoot()
	return root
}

// newRoot is newRootCmd, with the flags the client verbs share.
func newRoot() (*cobra.Command, *clientFlags) {
	root := &cobra.Command{
		Use:           "rzone",
		Short:         "rzone: a Raft-replicated store for consumer credit",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.AddCommand(newDevCmd(), newServerCmd(), newCertCmd(), newVersionCmd(), newHealthcheckCmd())

	cf := new(clientFlags)
	for _, verb := range append(append(append(clientVerbs(cf), clusterVerbs(cf)...), jobVerbs(cf)...), zoneVerbs(cf), tokenVerbs(cf), snapshotVerbs(cf), opVerbs(cf), nodeVerbs(cf)) {
		cf.register(verb)
		root.AddCommand(verb)
	}

	bench := &cobra.Command{Use: "bench", Short: "Benchmarks: load against a cluster, the cost of security (the scheduler simulation is rzone-bench sched)"}
	bench.AddCommand(newBenchPayCmd(), newBenchJobCmd(), newBenchSecurityCmd())
	root.AddCommand(bench)
	return root, cf
}
