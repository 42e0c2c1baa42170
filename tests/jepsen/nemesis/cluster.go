package nemesis

import (
	"context"
	"fmt"

	"github.com/rzonedb/rzone/tests/cluster"
)

// ForCluster adapts a harness cluster to Cluster and ZoneCluster.
func ForCluster(c *cluster.Cluster) Cluster { return harness{c} }

var _ ZoneCluster = harness{}

type harness struct{ c *cluster.Cluster }

func (h harness) NodeIDs() []string {
	out := make([]string, len(h.c.Nodes))
	for i, n := range h.c.Nodes {
		out[i] = n.ID
	}
	return out
}

func (h harness) node(id string) (*cluster.Node, error) {
	n := h.c.Node(id)
	if n == nil {
		return nil, fmt.Errorf("no node %q", id)
	}
	return n, nil
}

func (h harness) LeaderID(ctx context.Context) (string, error) {
	n, err := h.c.Leader(ctx)
	if err != nil {
		return "", err
	}
	return n.ID, nil
}

func (h harness) Kill(id string) error {
	n, err := h.node(id)
	if err != nil {
		return err
	}
	return n.Kill()
}

func (h harness) Restart(ctx context.Context, id string) error {
	n, err := h.node(id)
	if err != nil {
		return err
	}
	return n.Restart(ctx)
}

func (h harness) Pause(id string) error {
	n, err := h.node(id)
	if err != nil {
		return err
	}
	return n.Pause()
}

func (h harness) Resume(id string) error {
	n, err := h.node(id)
	if err != nil {
		return err
	}
	return n.Resume()
}

func (h harness) Isolate(id string) error {
	n, err := h.node(id)
	if err != nil {
		return err
	}
	return h.c.Isolate(n)
}

func (h harness) Heal() error                       { return h.c.Heal() }
func (h harness) HealAll(ctx context.Context) error { return h.c.HealAll(ctx) }

func (h harness) Zones() []string { return h.c.Zones() }

func (h harness) ZoneNodeIDs(z string) []string {
	var out []string
	for _, n := range h.c.ZoneNodes(z) {
		out = append(out, n.ID)
	}
	return out
}

func (h harness) KillZone(z string) error { return h.c.KillZone(z) }

func (h harness) CutZoneFromMeta(ctx context.Context, z string) ([]string, error) {
	meta, err := h.c.CutZoneFromMeta(ctx, z)
	var out []string
	for _, n := range meta {
		out = append(out, n.ID)
	}
	return out, err
}

func (h harness) KillAll() error {
	var first error
	for _, n := range h.c.Nodes {
		if err := n.Kill(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (h harness) RestartDown(ctx context.Context) error { return h.c.RestartNodes(ctx, h.c.Nodes) }
