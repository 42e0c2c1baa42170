package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/server"
	"github.com/spf13/cobra"
)

func newDevCmd() *cobra.Command {
	var (
		nodes              int
		httpAddr, raftAddr string
		dataDir, logLevel  string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local 3-node zone in one process, for trying rzone",
		Long: `Run a whole zone in this process: --nodes voters on loopback, the first
node's API at --http-addr and the others on the next ports. Data lives in a
temporary folder removed on exit, unless --data-dir is given. Ctrl-C stops it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDev(cmd, nodes, httpAddr, raftAddr, dataDir, logLevel)
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 3, "voters in the zone")
	f.StringVar(&httpAddr, "http-addr", "127.0.0.1:7070", "API address of the first node; the others take the next ports")
	f.StringVar(&raftAddr, "raft-addr", "127.0.0.1:7000", "Raft address of the first node; the others take the next ports")
	f.StringVar(&dataDir, "data-dir", "", "keep data here (default: a temporary folder, removed on exit)")
	f.StringVar(&logLevel, "log-level", "warn", "log level of the nodes")
	return cmd
}

func nextPort(addr string, i int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+i)), nil
}

func runDev(cmd *cobra.Command, n int, httpAddr, raftAddr, dataDir, logLevel string) error {
	if n < 1 {
		return fmt.Errorf("--nodes must be at least 1")
	}
	out := cmd.OutOrStdout()
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "rzone-dev-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	}
	log, err := newLogger(logLevel, "text")
	if err != nil {
		return err
	}
	var nodes []*server.Node
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := len(nodes) - 1; i >= 0; i-- {
			nodes[i].Shutdown(ctx)
		}
	}()
	var apis []string
	for i := 0; i < n; i++ {
		cfg := server.DefaultConfig()
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = filepath.Join(dataDir, cfg.NodeID)
		cfg.Logger = log
		cfg.Pprof = true
		if cfg.HTTPAddr, err = nextPort(httpAddr, i); err != nil {
			return err
		}
		if cfg.RaftAddr, err = nextPort(raftAddr, i); err != nil {
			return err
		}
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = apis[0]
		}
		node, err := server.Start(cfg)
		if err != nil {
			return fmt.Errorf("start %s: %w", cfg.NodeID, err)
		}
		nodes = append(nodes, node)
		apis = append(apis, cfg.HTTPAddr)
		fmt.Fprintf(out, "node %s  api http://%s  raft %s  data %s\n", cfg.NodeID, cfg.HTTPAddr, cfg.RaftAddr, cfg.DataDir)
	}
	if err := waitReady(cmd.Context(), apis, n, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nrzone dev: zone z1 ready with %d voters.\n", n)
	fmt.Fprintf(out, "  API:     http://%s  (any node serves any request)\n", apis[0])
	fmt.Fprintf(out, "  metrics: http://%s/metrics\n", apis[0])
	fmt.Fprintf(out, "  try:     curl -X PUT %s/v1/accounts/42 -d '{\"credit_limit\":500000}'\n", apis[0])
	fmt.Fprintf(out, "           rzone pay 42 19.99 --key order-1 --addr %s\n", apis[0])
	fmt.Fprintf(out, "Ctrl-C stops the zone.\n")

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping")
	return nil
}

// waitReady waits until a leader serves linearizable reads and every node
// has joined.
func waitReady(ctx context.Context, apis []string, voters int, d time.Duration) error {
	c, err := client.New(apis, client.WithMaxRetries(0))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		st, err := c.Status(ctx, apis[0])
		if err == nil && st.Leader != "" && len(st.Voters) == voters {
			ok := true
			for _, v := range st.Voters {
				ok = ok && v.HTTPAddr != ""
			}
			if ok {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("zone not ready after %s", d)
}
