package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/auth"
	"github.com/rzonedb/rzone/internal/certs"
	schedrun "github.com/rzonedb/rzone/scheduler/run"
	"github.com/rzonedb/rzone/server"
	"github.com/spf13/cobra"
)

type devOpts struct {
	zones, perZone                 int
	httpAddr, raftAddr, gossipAddr string
	dataDir, logLevel, logFormat   string
	notifier                       string
	insecure                       bool
}

func newDevCmd() *cobra.Command {
	var o devOpts
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local multi-zone cluster in one process, for trying rzone",
		Long: `Run a whole cluster in this process: --zones zones (A, B, C, ...) of
--nodes-per-zone nodes each, on loopback, with the meta group, async followers
and routing, initialized and ready. The first node's API is at --http-addr and
the others take the next ports (likewise Raft and gossip). Data lives in a
temporary folder removed on exit, unless --data-dir is given. Ctrl-C stops it.

The cluster is secure: rzone dev makes a CA, a node certificate and an admin
token in the data folder and prints, once ready, the export lines of
RZONE_TOKEN and RZONE_CA for the CLI and curl. --insecure runs it open.`,
		RunE: func(cmd *cobra.Command, args []string) error { return runDev(cmd, o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.zones, "zones", 3, "number of zones")
	f.StringVar(&o.notifier, "notifier", "log", notifierUsage)
	f.IntVar(&o.perZone, "nodes-per-zone", 3, "nodes (voters) per zone")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:7070", "API address of the first node; the others take the next ports")
	f.StringVar(&o.raftAddr, "raft-addr", "127.0.0.1:7000", "Raft address of the first node; the others take the next ports")
	f.StringVar(&o.gossipAddr, "gossip-addr", "127.0.0.1:7200", "gossip address of the first node; the others take the next ports")
	f.StringVar(&o.dataDir, "data-dir", "", "keep data here (default: a temporary folder, removed on exit)")
	f.StringVar(&o.logLevel, "log-level", "warn", "log level of the nodes")
	f.StringVar(&o.logFormat, "log-format", "text", "log format of the nodes: text or json")
	f.BoolVar(&o.insecure, "insecure", false, "run open: no TLS, no tokens")
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

func zoneNames(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, string(rune('A'+i)))
	}
	return out
}

func runDev(cmd *cobra.Command, o devOpts) error {
	if o.zones < 1 || o.zones > 26 || o.perZone < 1 {
		return fmt.Errorf("--zones must be 1 to 26 and --nodes-per-zone at least 1")
	}
	out := cmd.OutOrStdout()
	if o.dataDir == "" {
		tmp, err := os.MkdirTemp("", "rzone-dev-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.dataDir = tmp
	}
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	var nodes []*server.Node
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for i := len(nodes) - 1; i >= 0; i-- {
			nodes[i].Shutdown(ctx)
		}
	}()
	zones := zoneNames(o.zones)
	certsDir := filepath.Join(o.dataDir, "certs")
	tokenFile := filepath.Join(o.dataDir, "admin.token")
	scheme := "http"
	var token string
	if !o.insecure {
		if token, err = devCerts(certsDir, tokenFile, o); err != nil {
			return err
		}
		scheme = "https"
	}
	var apis, lines []string
	var firstGossip string
	for i := 0; i < o.zones*o.perZone; i++ {
		z := zones[i/o.perZone]
		cfg := server.DefaultConfig()
		cfg.NodeID = fmt.Sprintf("%s%d", strings.ToLower(z), i%o.perZone+1)
		cfg.Zone = z
		cfg.DataDir = filepath.Join(o.dataDir, cfg.NodeID)
		cfg.Logger = log
		cfg.Pprof = true
		if o.insecure {
			cfg.Insecure = true
		} else {
			cfg.CertsDir, cfg.BootstrapTokenFile = certsDir, tokenFile
		}
		if err := setNotifier(&cfg, o.notifier); err != nil {
			return err
		}
		// rzone dev is a local trial: its auto-debits go to a simulated
		// bank (rzone server has none unless --bank says so).
		cfg.Sched.Bank = schedrun.NewSimBank(schedrun.SimConfig{})
		if cfg.HTTPAddr, err = nextPort(o.httpAddr, i); err != nil {
			return err
		}
		if cfg.RaftAddr, err = nextPort(o.raftAddr, i); err != nil {
			return err
		}
		if cfg.GossipAddr, err = nextPort(o.gossipAddr, i); err != nil {
			return err
		}
		if i == 0 {
			firstGossip = cfg.GossipAddr
		} else {
			cfg.GossipSeeds = []string{firstGossip}
		}
		node, err := server.Start(cfg)
		if err != nil {
			return fmt.Errorf("start %s: %w", cfg.NodeID, err)
		}
		nodes = append(nodes, node)
		apis = append(apis, cfg.HTTPAddr)
		lines = append(lines, fmt.Sprintf("node %-3s zone %s  api %s://%s  raft %s  gossip %s", cfg.NodeID, z, scheme, cfg.HTTPAddr, cfg.RaftAddr, cfg.GossipAddr))
	}
	fmt.Fprintf(out, "started %d nodes\n", len(nodes))
	var opts []client.Option
	caFile := filepath.Join(certsDir, certs.CAFile)
	if !o.insecure {
		conf, err := client.LoadCA(caFile)
		if err != nil {
			return err
		}
		opts = append(opts, client.WithTLS(conf), client.WithToken(token))
	}
	c, err := client.New(apis[:1], append(opts, client.WithMaxRetries(0))...)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "initializing the cluster: zones %s\n", strings.Join(zones, ","))
	if _, err := initWhenGossiped(cmd.Context(), c, zones, len(apis), 30*time.Second); err != nil {
		return err
	}
	if err := waitZonesReady(cmd.Context(), c, len(zones), 60*time.Second); err != nil {
		return err
	}
	if err := waitNodesReady(cmd.Context(), c, apis, 60*time.Second); err != nil {
		return err
	}
	// The addresses only now: every node serves every user.
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	a := apis[0]
	curl := "curl"
	if !o.insecure {
		curl = `curl --cacert "$RZONE_CA" -H "Authorization: Bearer $RZONE_TOKEN"`
	}
	u := scheme + "://" + a
	fmt.Fprintf(out, "\nrzone dev: cluster ready: %d zones x %d nodes, meta group, async followers.\n", o.zones, o.perZone)
	if o.insecure {
		fmt.Fprintf(out, "  INSECURE: no TLS, no tokens (--insecure)\n")
	} else {
		fmt.Fprintf(out, "  for the CLI and curl (the admin token; make others with rzone token create):\n")
		fmt.Fprintf(out, "export RZONE_TOKEN=%s\n", token)
		fmt.Fprintf(out, "export RZONE_CA=%s\n", caFile)
	}
	fmt.Fprintf(out, "  API:     %s  (any node serves any user)\n", u)
	fmt.Fprintf(out, "  console: %s/ui/\n", u)
	fmt.Fprintf(out, "  zones:   %s %s/v1/zones      routes: %s %s/v1/routes\n", curl, u, curl, u)
	fmt.Fprintf(out, "  metrics: %s/metrics\n", u)
	fmt.Fprintf(out, "  try:     %s -X PUT %s/v1/accounts/42 -d '{\"credit_limit\":500000}'\n", curl, u)
	fmt.Fprintf(out, "           rzone pay 42 19.99 --key order-1 --addr %s\n", a)
	fmt.Fprintf(out, "Ctrl-C stops the cluster.\n")

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping")
	return nil
}

// initWhenGossiped retries cluster init until gossip has found every node
// and the init succeeds.
// It answers the admin token the init made (empty for an open cluster or
// one initialized before).
func initWhenGossiped(ctx context.Context, c *client.Client, zones []string, nodes int, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		ml, err := c.Members(ctx)
		alive := 0
		if err == nil {
			for _, m := range ml.Members {
				if m.State == "alive" {
					alive++
				}
			}
		}
		if alive == nodes {
			var rt *client.RouteTable
			if rt, last = c.InitCluster(ctx, zones, nodes); last == nil {
				return rt.AdminToken, nil
			}
		} else {
			last = fmt.Errorf("gossip sees %d of %d nodes", alive, nodes)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("cluster init: %w", last)
}

// waitZonesReady waits until every zone has a leader with a valid lease and
// its async followers.
func waitZonesReady(ctx context.Context, c *client.Client, zones int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		zl, err := c.Zones(ctx)
		if err == nil && len(zl.Zones) == zones {
			ok := true
			for _, z := range zl.Zones {
				ok = ok && z.Leader != "" && z.Ready && z.LeaseValid && (zones == 1 || len(z.Followers) > 0)
			}
			if ok {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("zones not ready after %s", d)
}

// waitNodesReady waits until every node's /readyz answers 200: each can
// serve a request of every shard.
func waitNodesReady(ctx context.Context, c *client.Client, apis []string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for _, a := range apis {
		for {
			if c.Ready(ctx, a) == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("node %s not ready after %s", a, d)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// devCerts makes, in dir, a CA and one node certificate for the loopback
// addresses the dev nodes listen on, and the admin token every dev node
// takes as its bootstrap token, unless they are there from an earlier
// run. It answers the token.
func devCerts(dir, tokenFile string, o devOpts) (string, error) {
	if data, err := os.ReadFile(tokenFile); err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if err := certs.CreateCA(dir); err != nil {
		return "", err
	}
	hosts := []string{"127.0.0.1", "localhost", "::1"}
	for _, a := range []string{o.httpAddr, o.raftAddr, o.gossipAddr} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if err := certs.CreateNode(dir, "dev", hosts); err != nil {
		return "", err
	}
	token := auth.NewToken()
	return token, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
}
