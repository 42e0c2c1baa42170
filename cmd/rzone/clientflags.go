package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

// clientFlags are the flags every client verb shares.
type clientFlags struct {
	addrs   string
	output  string
	stale   bool
	timeout time.Duration
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
}

func (f *clientFlags) client() (*client.Client, error) {
	if f.output != "table" && f.output != "json" {
		return nil, usage(fmt.Errorf("--output %q: want table or json", f.output))
	}
	return client.New(strings.Split(f.addrs, ","))
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
