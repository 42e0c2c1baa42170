package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

// jobVerbs is `rzone job`: start, watch, list and cancel batch runs.
func jobVerbs(f *clientFlags) []*cobra.Command {
	job := &cobra.Command{Use: "job", Short: "Batch runs: statements, reminders, auto-debits over every due user"}
	var cycle string
	var watch bool
	run := &cobra.Command{
		Use: "run JOB", Short: "Start a run of JOB (statement, reminder, autodebit) for a cycle", Args: cobra.ExactArgs(1),
		Example: "  rzone job run statement --cycle 202611 --watch",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			r, created, err := c.StartRun(ctx, args[0], cycle)
			if err != nil {
				return err
			}
			if !created {
				fmt.Fprintf(cmd.ErrOrStderr(), "run %d of %s for %s is already going on\n", r.ID, r.Job, r.Cycle)
			}
			if !watch {
				return printRuns(cmd, f, r, []client.Run{*r})
			}
			return watchRun(cmd.Context(), c, r.ID, cmd.OutOrStdout(), isTerminal(cmd.OutOrStdout()))
		},
	}
	run.Flags().StringVar(&cycle, "cycle", time.Now().UTC().Format("200601"), "billing cycle, YYYYMM")
	run.Flags().BoolVar(&watch, "watch", false, "follow the run's progress until it ends")
	status := &cobra.Command{
		Use: "status ID", Short: "Show a run's progress (with --watch, until it ends)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, id, err := runSession(cmd, f, args[0])
			if err != nil {
				return err
			}
			defer cancel()
			if watch {
				return watchRun(cmd.Context(), c, id, cmd.OutOrStdout(), isTerminal(cmd.OutOrStdout()))
			}
			r, err := c.GetRun(ctx, id)
			if err != nil {
				return err
			}
			return printRuns(cmd, f, r, []client.Run{*r})
		},
	}
	status.Flags().BoolVar(&watch, "watch", false, "follow the run's progress until it ends")
	list := &cobra.Command{
		Use: "list", Short: "List runs, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, err := f.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			runs, err := c.Runs(ctx)
			if err != nil {
				return err
			}
			return printRuns(cmd, f, runs, runs)
		},
	}
	cancelCmd := &cobra.Command{
		Use: "cancel ID", Short: "Stop a run (what was done stays done)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, id, err := runSession(cmd, f, args[0])
			if err != nil {
				return err
			}
			defer cancel()
			r, err := c.CancelRun(ctx, id)
			if err != nil {
				return err
			}
			return printRuns(cmd, f, r, []client.Run{*r})
		},
	}
	job.AddCommand(run, status, list, cancelCmd)
	return []*cobra.Command{job}
}

func printRuns(cmd *cobra.Command, f *clientFlags, v any, runs []client.Run) error {
	var rows [][]string
	for _, r := range runs {
		rows = append(rows, []string{strconv.FormatUint(r.ID, 10), r.Job, r.Cycle, r.State,
			fmt.Sprintf("%d/%d", r.Generated, r.Ranges), fmt.Sprintf("%d/%d", r.TasksDone, r.TasksTotal),
			fmt.Sprintf("%d/%d", r.UsersDone, r.UsersTotal), strconv.FormatInt(r.Failures, 10), r.CreatedAt})
	}
	return f.print(cmd.OutOrStdout(), v, []string{"ID", "JOB", "CYCLE", "STATE", "RANGES", "TASKS", "USERS", "FAILURES", "CREATED"}, rows)
}

// watchRun polls a run until it ends: a progress bar redrawn in place on a
// terminal, one plain line per change otherwise (logs, pipes, CI). The
// watch has no deadline of its own; interrupt it, the run goes on.
func watchRun(ctx context.Context, c *client.Client, id uint64, w io.Writer, tty bool) error {
	var last string
	for {
		r, err := c.GetRun(ctx, id)
		if err != nil {
			return err
		}
		line := progressLine(r, tty)
		if tty {
			fmt.Fprintf(w, "\r%s\033[K", line)
		} else if line != last {
			fmt.Fprintln(w, line)
		}
		last = line
		if r.State != "running" {
			if tty {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "run %d %s: %d users in %d tasks, %d skipped, %d failed attempts, %.1f users/s\n",
				r.ID, r.State, r.UsersDone, r.TasksDone, r.Skipped, r.Failures, r.UsersPerSecond)
			if r.State != "done" {
				return fmt.Errorf("run %d ended %s", r.ID, r.State)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// progressLine renders a run's progress; with bar, a 30-column bar of the
// users done out of those generated so far.
func progressLine(r *client.Run, bar bool) string {
	pct := 0.0
	if r.UsersTotal > 0 {
		pct = float64(r.UsersDone) / float64(r.UsersTotal)
	}
	text := fmt.Sprintf("run %d %s %s: ranges %d/%d  tasks %d/%d  users %d/%d  failures %d  limit %d  %.1f users/s",
		r.ID, r.Job, r.Cycle, r.Generated, r.Ranges, r.TasksDone, r.TasksTotal, r.UsersDone, r.UsersTotal, r.Failures, r.Limit, r.UsersPerSecond)
	if r.GrayActive {
		text += "  (gray)"
	}
	if !bar {
		return text
	}
	n := int(pct * 30)
	return fmt.Sprintf("[%s%s] %3.0f%%  %s", strings.Repeat("#", n), strings.Repeat(".", 30-n), pct*100, text)
}

// isTerminal reports whether w is a character device (a terminal), without
// a dependency: pipes, files and CI logs get plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runSession is session for a verb whose argument is a run id.
func runSession(cmd *cobra.Command, f *clientFlags, arg string) (context.Context, context.CancelFunc, *client.Client, uint64, error) {
	id, err := strconv.ParseUint(arg, 10, 64)
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("run id %q: want an integer", arg)
	}
	ctx, cancel, c, err := f.session(cmd)
	return ctx, cancel, c, id, err
}
