package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// clientFlags are the flags every client verb shares.
type clientFlags struct {
	addrs   string
	output  string
	stale   bool
	timeout time.Duration
	// token and ca: the API token and the cluster CA certificate file
	// (RZONE_TOKEN, RZONE_CA); with a CA the client speaks HTTPS.
	token, ca string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	def := os.Getenv("RZONE_ADDR")
	if def == "" {
		def = "127.0.0.1:7070"
	}
	p := cmd.PersistentFlags()
	p.StringVar(&f.addrs, "addr", def, "API address(es) of any node(s), comma separated (env RZONE_ADDR)")
	p.StringVarP(&f.output, "output", "o", "table", "output: table or json")
	p.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
	// Secrets are read from the environment when used, not as a flag's
	// default: a default is printed by --help.
	p.StringVar(&f.token, "token", "", "API token (default: env RZONE_TOKEN, else the file $RZONE_TOKEN_FILE, else the token file that rzone cluster init wrote)")
	p.StringVar(&f.ca, "ca", os.Getenv("RZONE_CA"), "cluster CA certificate file; turns on HTTPS (env RZONE_CA)")
}

// addrFlags registers --addr, --token and --ca for a command outside the
// client verbs (the benchmarks), with the same environment defaults.
func addrFlags(f *pflag.FlagSet, addrs, token, ca *string) {
	def := os.Getenv("RZONE_ADDR")
	if def == "" {
		def = "127.0.0.1:7070"
	}
	f.StringVar(addrs, "addr", def, "API address(es), comma separated (env RZONE_ADDR)")
	f.StringVar(token, "token", "", "API token (default: env RZONE_TOKEN, else the token files as for the client verbs)")
	f.StringVar(ca, "ca", os.Getenv("RZONE_CA"), "cluster CA certificate file; turns on HTTPS (env RZONE_CA)")
}

// tokenFile is where `rzone cluster init` writes the cluster's first admin
// token (0600) and where the CLI looks for a token when none is given:
// $RZONE_TOKEN_FILE if set (a mounted secret, say), else rzone/token in
// the user's config folder.
func tokenFile() string {
	if f := os.Getenv("RZONE_TOKEN_FILE"); f != "" {
		return f
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "rzone", "token")
}

// clientOptions are the security options of addr, token and ca: the
// token, else the token file's; HTTPS trusting ca if set.
func clientOptions(token, ca string) ([]client.Option, error) {
	var opts []client.Option
	if token == "" {
		token = os.Getenv("RZONE_TOKEN")
	}
	if token == "" {
		if data, err := os.ReadFile(tokenFile()); err == nil {
			token = strings.TrimSpace(string(data))
		}
	}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	if ca != "" {
		conf, err := client.LoadCA(ca)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithTLS(conf))
	}
	return opts, nil
}

func (f *clientFlags) client() (*client.Client, error) {
	if f.output != "table" && f.output != "json" {
		return nil, usage(fmt.Errorf("--output %q: want table or json", f.output))
	}
	opts, err := clientOptions(f.token, f.ca)
	if err != nil {
		return nil, err
	}
	return client.New(strings.Split(f.addrs, ","), opts...)
}

// session makes the client and a context bounded by --timeout; the caller
// defers cancel.
func (f *clientFlags) session(cmd *cobra.Command) (context.Context, context.CancelFunc, *client.Client, error) {
	c, err := f.client()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	return ctx, cancel, c, nil
}

// userSession is session for a verb whose argument userArg is a user id.
func (f *clientFlags) userSession(cmd *cobra.Command, userArg string) (context.Context, context.CancelFunc, *client.Client, uint64, error) {
	user, err := parseUser(userArg)
	if err != nil {
		return nil, nil, nil, 0, usage(err)
	}
	ctx, cancel, c, err := f.session(cmd)
	return ctx, cancel, c, user, err
}

// amountSession is userSession for a verb whose arguments are USER AMOUNT;
// the amount is a decimal converted exactly to minor units.
func (f *clientFlags) amountSession(cmd *cobra.Command, args []string) (context.Context, context.CancelFunc, *client.Client, uint64, int64, error) {
	user, amount, err := userAmount(args)
	if err != nil {
		return nil, nil, nil, 0, 0, usage(err)
	}
	ctx, cancel, c, err := f.session(cmd)
	return ctx, cancel, c, user, amount, err
}

func (f *clientFlags) readOpts() []client.ReadOption {
	if f.stale {
		return []client.ReadOption{client.Stale()}
	}
	return nil
}

// print writes v as JSON, or as a table of the given rows.
func (f *clientFlags) print(w io.Writer, v any, header []string, rows [][]string) error {
	if f.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func parseUser(s string) (uint64, error) {
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("user %q: want an unsigned integer id", s)
	}
	return u, nil
}
