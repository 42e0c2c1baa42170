package runner

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/cluster/compose"
	"github.com/rzonedb/rzone/tests/jepsen/history"
	"github.com/rzonedb/rzone/tests/jepsen/nemesis"
)

// TestScenarioDocker runs the payments and bank workloads for 32 seconds
// on docker-compose.yml's 3 zones × 3 nodes (the docker backend: image
// built, project up, everything removed at the end) while a node's
// container is killed, paused and taken off the network, and expects a
// valid history in which every fault kind was applied and recorded with
// its start and end. It skips where Docker is not usable and under -short;
// the image build and the cluster's start take most of its time.
func TestScenarioDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("docker: skipped under -short (builds an image and runs a 9-container cluster)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := compose.Detect(ctx); errors.Is(err, compose.ErrUnusable) {
		t.Skipf("docker: %v", err)
	}
	kinds := []string{nemesis.Kill, nemesis.Pause, nemesis.Partition}
	cfg, _ := run(t, Config{
		Backend:       BackendDocker,
		Workloads:     []string{"payments", "bank"},
		Nemeses:       kinds,
		Time:          32 * time.Second,
		Interval:      7 * time.Second,
		FaultDuration: 3 * time.Second,
		CheckTimeout:  20 * time.Second,
	})
	var out bytes.Buffer
	cfg.Stdout = &out
	begin := time.Now()
	rep, err := Run(ctx, *cfg)
	t.Logf("summary (run took %s):\n%s", time.Since(begin).Round(time.Second), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Valid || !strings.HasSuffix(out.String(), "valid: true\n") {
		t.Errorf("run is not valid: %s", whyNot(rep))
	}
	started, ended := map[string]int{}, map[string]int{}
	for _, op := range rep.Ops {
		switch op.F {
		case history.FFault:
			if op.Error == "" {
				started[op.Fault]++
			}
		case history.FHeal:
			if op.Error == "" {
				ended[op.Fault]++
			}
		}
	}
	for _, k := range kinds {
		if rep.Faults[k] == 0 || rep.Failed[k] != 0 {
			t.Errorf("fault %s: applied %d times, failed %d, want applied and never failed (applied %v, failed %v)",
				k, rep.Faults[k], rep.Failed[k], rep.Faults, rep.Failed)
		}
		if started[k] != rep.Faults[k] || ended[k] != rep.Faults[k] {
			t.Errorf("fault %s: %d starts and %d ends healed in the history, want %d of each", k, started[k], ended[k], rep.Faults[k])
		}
	}
	if len(rep.Results) == 0 {
		t.Errorf("no checker ran")
	}
	if len(rep.Ops) < 500 {
		t.Errorf("only %d history entries; the workload barely ran", len(rep.Ops))
	}
}

// TestDockerRefuses checks that the docker backend refuses, before it
// starts anything, the shapes and nemeses it cannot run.
func TestDockerRefuses(t *testing.T) {
	base := Config{Backend: BackendDocker, Workloads: []string{"payments"}, Time: time.Second, Out: t.TempDir()}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"two zones", func(c *Config) { c.Zones = 2 }, "3 zones × 3 nodes, not 2 zones"},
		{"five nodes per zone", func(c *Config) { c.NodesPerZone = 5 }, "not 3 zones × 5 nodes"},
		{"partition-zone", func(c *Config) { c.Nemeses = []string{nemesis.Kill, nemesis.PartitionZone} }, "cannot inject the partition-zone nemesis"},
		{"failover", func(c *Config) { c.Nemeses = []string{nemesis.Failover} }, "cannot inject the failover nemesis"},
		{"inject", func(c *Config) { c.Inject = "stale-read" }, "Inject needs the local backend"},
		{"binary", func(c *Config) { c.Binary = "/bin/true" }, "Binary is for the local backend"},
		{"unknown backend", func(c *Config) { c.Backend = "k8s" }, `unknown backend "k8s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
