package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/spf13/cobra"
)

// newBenchSecurityCmd is `rzone bench security`: bench pay's load on a
// secure and an open rzone dev cluster side by side, in alternating rounds.
func newBenchSecurityCmd() *cobra.Command {
	o := benchSecurityOpts{}
	cmd := &cobra.Command{
		Use:   "security",
		Short: "What security costs: bench pay on a secure and an open rzone dev cluster, side by side",
		Long: `Start two rzone dev clusters of this binary on loopback, one secure (TLS,
node certificates, tokens: the default) and one open (--insecure), both
running all along, and run bench pay's load (--clients single payments) on
each in turn, --rounds times, alternating which goes first, so that both
see the same machine. Prints a row per round and mode, then the totals and
the ratio secure / open of payments per second.`,
		Example: "  rzone bench security --clients 64 --time 10s --rounds 3",
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchSecurity(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.clients, "clients", 64, "concurrent closed-loop workers")
	f.IntVar(&o.accounts, "accounts", 1000, "accounts to spread payments over")
	f.DurationVar(&o.dur, "time", 10*time.Second, "how long each round runs on each cluster")
	f.IntVar(&o.rounds, "rounds", 3, "rounds; each runs the load on both clusters")
	f.IntVar(&o.zones, "zones", 3, "zones of each dev cluster")
	return cmd
}

type benchSecurityOpts struct {
	clients, accounts, rounds, zones int
	dur                              time.Duration
}

func benchSecurity(ctx context.Context, out, progress io.Writer, o benchSecurityOpts) error {
	if o.rounds < 1 || o.zones < 1 {
		return usage(errors.New("--rounds and --zones must be at least 1"))
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	modes := []string{"secure", "open"}
	clusters := map[string]*devProcess{}
	defer func() {
		for _, d := range clusters {
			d.stop()
		}
	}()
	for _, m := range modes {
		fmt.Fprintf(progress, "starting the %s dev cluster\n", m)
		d, err := startDevProcess(ctx, self, m == "open", o.zones)
		if err != nil {
			return fmt.Errorf("%s cluster: %w", m, err)
		}
		clusters[m] = d
		fmt.Fprintf(progress, "%s cluster ready at %s\n", m, d.addr)
	}
	totals := map[string]*benchResult{}
	fmt.Fprintf(out, "%-6s %-7s %-8s %-9s %-10s %-10s %-10s %s\n", "round", "mode", "clients", "payments", "payments/s", "p50", "p99", "failed")
	for r := 1; r <= o.rounds; r++ {
		order := modes
		if r%2 == 0 {
			order = []string{modes[1], modes[0]}
		}
		for _, m := range order {
			fmt.Fprintf(progress, "round %d: %s\n", r, m)
			res, err := benchPay(ctx, progress, clusters[m].client, benchPayOpts{clients: o.clients, accounts: o.accounts, amount: 1, dur: o.dur, batch: 1})
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, m, err)
			}
			fmt.Fprintf(out, "%-6d %-7s %-8d %-9d %-10.0f %-10s %-10s %d\n", r, m, res.clients, res.payments, res.rate(),
				res.p50.Round(10*time.Microsecond), res.p99.Round(10*time.Microsecond), res.failed)
			t := totals[m]
			if t == nil {
				t = &benchResult{clients: res.clients}
				totals[m] = t
			}
			t.payments += res.payments
			t.failed += res.failed
			t.elapsed += res.elapsed
		}
	}
	sec, open := totals["secure"], totals["open"]
	fmt.Fprintf(out, "total  secure  %d payments in %s: %.0f/s\n", sec.payments, sec.elapsed.Round(time.Millisecond), sec.rate())
	fmt.Fprintf(out, "total  open    %d payments in %s: %.0f/s\n", open.payments, open.elapsed.Round(time.Millisecond), open.rate())
	if open.rate() > 0 {
		fmt.Fprintf(out, "ratio secure/open: %.2f\n", sec.rate()/open.rate())
	}
	if sec.failed+open.failed > 0 {
		return fmt.Errorf("%d payments failed", sec.failed+open.failed)
	}
	return nil
}

// devProcess is an `rzone dev` child process, ready.
type devProcess struct {
	cmd    *exec.Cmd
	addr   string
	opts   []client.Option
	client *client.Client // kept for every round: its connections stay alive
	done   chan struct{}
}

// startDevProcess starts `rzone dev` (open with insecure) on a loopback
// address of its own (127.0.X.Y, default ports) and waits until it prints
// that the cluster is ready, reading the CA and token it exports.
func startDevProcess(ctx context.Context, self string, insecure bool, zones int) (*devProcess, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	r := binary.BigEndian.Uint16(b[:])
	ip := fmt.Sprintf("127.0.%d.%d", 100+int(r>>8)%100, 2+int(r&0xff)%250)
	args := []string{"dev", "--zones", fmt.Sprint(zones), "--log-level", "error",
		"--http-addr", ip + ":7070", "--raft-addr", ip + ":7000", "--gossip-addr", ip + ":7200"}
	if insecure {
		args = append(args, "--insecure")
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &devProcess{cmd: cmd, addr: ip + ":7070", done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		var token, ca string
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "export RZONE_TOKEN="); ok {
				token = v
			}
			if v, ok := strings.CutPrefix(line, "export RZONE_CA="); ok {
				ca = v
			}
			if strings.HasPrefix(line, "rzone dev: cluster ready") && !signalled {
				signalled = true
				ready <- nil
			}
			if signalled && d.opts == nil && (insecure || (token != "" && ca != "")) {
				opts, err := clientOptions(token, ca)
				if err != nil {
					ready <- err
					return
				}
				if insecure {
					opts = nil
				}
				d.opts = append(opts, client.WithMaxRetries(3))
				close(d.done)
			}
		}
		if !signalled {
			ready <- fmt.Errorf("rzone dev %s exited before it was ready", strings.Join(args, " "))
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			d.stop()
			return nil, err
		}
	case <-ctx.Done():
		d.stop()
		return nil, ctx.Err()
	case <-time.After(3 * time.Minute):
		d.stop()
		return nil, errors.New("rzone dev not ready after 3 minutes")
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.stop()
		return nil, errors.New("rzone dev printed no RZONE_TOKEN and RZONE_CA lines")
	}
	if d.client, err = client.New([]string{d.addr}, d.opts...); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// stop ends the dev cluster: SIGTERM, then SIGKILL after 20 seconds.
func (d *devProcess) stop() {
	if d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-exited
	}
}
