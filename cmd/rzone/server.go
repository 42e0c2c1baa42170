package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	schedrun "github.com/rzonedb/rzone/scheduler/run"
	"github.com/rzonedb/rzone/server"
	"github.com/spf13/cobra"
)

func newServerCmd() *cobra.Command {
	cfg := server.DefaultConfig()
	var logLevel, logFormat, gossipSeeds, gossipKey, notifier, bank string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one node of an rzone zone",
		Long: `Run one rzone node.

Multi-zone cluster: give every node its --zone and a --gossip-addr, and
--gossip-join the gossip address of any started node; then create the
cluster once with "rzone cluster init --zones A,B,C". A restarted node
rejoins with its data.

Standalone zone (one zone, no meta group): start one node with --bootstrap,
then the others with --join set to the API address of any member. A node that
has data restarts from it and ignores both flags.`,
		Example: `  # a multi-zone cluster node
  rzone server --node-id a1 --zone A --data-dir /var/lib/rzone --raft-addr 127.0.0.1:7000 --http-addr 127.0.0.1:7070 --gossip-addr 127.0.0.1:7946
  rzone server --node-id b1 --zone B --data-dir /var/lib/rzone-b1 --raft-addr 127.0.0.1:7001 --http-addr 127.0.0.1:7071 --gossip-addr 127.0.0.1:7947 --gossip-join 127.0.0.1:7946

  # a standalone zone
  rzone server --node-id n1 --data-dir /var/lib/rzone/n1 --raft-addr 127.0.0.1:7000 --http-addr 127.0.0.1:7070 --bootstrap
  rzone server --node-id n2 --data-dir /var/lib/rzone/n2 --raft-addr 127.0.0.1:7001 --http-addr 127.0.0.1:7071 --join 127.0.0.1:7070`,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Logger = log
			if err := setNotifier(&cfg, notifier); err != nil {
				return err
			}
			if err := setBank(&cfg, bank); err != nil {
				return usage(err)
			}
			if gossipSeeds != "" {
				cfg.GossipSeeds = strings.Split(gossipSeeds, ",")
			}
			if gossipKey == "" {
				gossipKey = os.Getenv("RZONE_GOSSIP_KEY")
			}
			if gossipKey != "" {
				key, err := base64.StdEncoding.DecodeString(gossipKey)
				if err != nil {
					return fmt.Errorf("--gossip-key: want base64 of 16, 24 or 32 bytes: %w", err)
				}
				cfg.GossipKey = key
			}
			node, err := server.Start(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
		wait:
			for {
				select {
				case <-ctx.Done():
					break wait
				case <-hup:
					if err := node.ReloadCerts(); err != nil {
						log.Error("reload certificates", "err", err)
					}
				}
			}
			log.Info("stopping")
			// Up to 10 s for the leadership hand-off (the groups at once), then
			// the rest for requests in flight.
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			return node.Shutdown(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NodeID, "node-id", "", "node id, unique in the zone and never reused (required)")
	f.StringVar(&cfg.Zone, "zone", cfg.Zone, "zone name")
	f.StringVar(&cfg.DataDir, "data-dir", "", "data directory: raft log, snapshots, state (required)")
	f.StringVar(&cfg.RaftAddr, "raft-addr", "127.0.0.1:7000", "Raft transport listen address")
	f.StringVar(&cfg.RaftAdvertise, "raft-advertise", "", "Raft address other nodes dial (default --raft-addr)")
	f.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:7070", "HTTP API listen address")
	f.StringVar(&cfg.HTTPAdvertise, "http-advertise", "", "API address other nodes forward to (default --http-addr)")
	f.BoolVar(&cfg.Bootstrap, "bootstrap", false, "form a new zone with this node as its first member")
	f.StringVar(&cfg.Join, "join", "", "API address of any member to join")
	f.StringVar(&cfg.GossipAddr, "gossip-addr", "", "gossip (memberlist) address, TCP and UDP; set it to run in a multi-zone cluster")
	f.StringVar(&cfg.GossipAdvertise, "gossip-advertise", "", "gossip address others reach (default --gossip-addr)")
	f.StringVar(&gossipSeeds, "gossip-join", "", "gossip addresses of started nodes to join, comma separated")
	f.StringVar(&cfg.CertsDir, "certs-dir", os.Getenv("RZONE_CERTS_DIR"), "folder with the cluster CA, this node's certificate and the gossip key (see rzone cert); turns on TLS, node certificates and tokens (env RZONE_CERTS_DIR)")
	f.BoolVar(&cfg.Insecure, "insecure", false, "run open: no TLS, no tokens (a node without --certs-dir refuses to start without it)")
	f.StringVar(&cfg.BootstrapTokenFile, "bootstrap-token-file", "", "file with an admin token (as rzone token create prints it) this node accepts: the first admin token")
	f.StringVar(&gossipKey, "gossip-key", "", "base64 key (16, 24 or 32 bytes) that encrypts gossip (default: env RZONE_GOSSIP_KEY)")
	f.DurationVar(&cfg.LeaseDuration, "lease-duration", cfg.LeaseDuration, "zone ownership lease length")
	f.DurationVar(&cfg.LeaseRenew, "lease-renew", cfg.LeaseRenew, "how often a zone leader renews its lease")
	f.DurationVar(&cfg.ApplyTimeout, "apply-timeout", cfg.ApplyTimeout, "how long a write waits to commit before its outcome is unknown")
	f.DurationVar(&cfg.PostInterval, "post-interval", cfg.PostInterval, "how often the leader books payments into bills")
	f.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", cfg.HeartbeatTimeout, "Raft heartbeat timeout")
	f.DurationVar(&cfg.ElectionTimeout, "election-timeout", cfg.ElectionTimeout, "Raft election timeout")
	f.DurationVar(&cfg.LeaderLeaseTimeout, "leader-lease-timeout", cfg.LeaderLeaseTimeout, "Raft leader lease timeout")
	f.Uint64Var(&cfg.SnapshotThreshold, "snapshot-threshold", cfg.SnapshotThreshold, "log entries between snapshots")
	f.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", cfg.SnapshotInterval, "how often Raft checks whether a snapshot is due")
	f.Uint64Var(&cfg.TrailingLogs, "trailing-logs", cfg.TrailingLogs, "log entries a snapshot leaves in the log, for followers that lag")
	f.StringVar(&cfg.RaftLogStore, "raft-log-store", cfg.RaftLogStore, raftLogStoreUsage)
	f.DurationVar(&cfg.StateCommitInterval, "state-commit-interval", cfg.StateCommitInterval, "how often a zone replica commits what it applied to its state file, at the latest (the log is the durable record)")
	f.IntVar(&cfg.Sched.Slots, "sched-slots", 4, "batch tasks this node's scheduler worker runs at once")
	f.DurationVar(&cfg.Sched.LeaseTTL, "sched-lease-ttl", 10*time.Second, "how long a batch task's lease lives without a checkpoint")
	f.StringVar(&notifier, "notifier", "log", notifierUsage)
	f.StringVar(&bank, "bank", "", bankUsage)
	f.BoolVar(&cfg.Pprof, "pprof", false, "serve Go's profiler at /debug/pprof/")
	f.StringVar(&cfg.Inject, "inject", "", "deliberate faults for fault tests (needs a -tags faultinject build)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	cmd.MarkFlagRequired("node-id")
	cmd.MarkFlagRequired("data-dir")
	return cmd
}

const raftLogStoreUsage = "Raft log store of new data folders: wal (raft-wal, one fsync per append) or bolt (raft-boltdb's raft.db, as before); a folder that holds a log keeps its own"

const bankUsage = "the bank the auto-debit job debits: sim (a simulated bank, for tests and demos); empty: none, and auto-debit runs are refused"

// setBank applies --bank to cfg.
func setBank(cfg *server.Config, name string) error {
	switch name {
	case "":
	case "sim":
		cfg.Sched.Bank = schedrun.NewSimBank(schedrun.SimConfig{})
	default:
		return fmt.Errorf("--bank %q: want sim, or nothing for no bank", name)
	}
	return nil
}

const notifierUsage = "how zone leaders deliver the outbox's notifications: log (to the node's log, at info level) or none (leave them in the outbox)"

// setNotifier applies --notifier to cfg.
func setNotifier(cfg *server.Config, name string) error {
	switch name {
	case "log": // the default: run.LogNotifier on the node's logger
	case "none":
		cfg.Notify.Off = true
	default:
		return fmt.Errorf("--notifier %q: want log or none", name)
	}
	return nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
