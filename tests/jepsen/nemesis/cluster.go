package nemesis

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// ForCluster adapts a harness cluster to Cluster and ZoneCluster.
func ForCluster(c *cluster.Cluster) Cluster { return harness{c} }

var (
	_ LiveFailoverCluster = harness{}
	_ LossyCluster        = harness{}
)

// ForClusterWithReplies adapts a harness cluster whose clients go through
// reply proxies r: the lost-reply fault works on it, and HealAll passes
// every reply again.
func ForClusterWithReplies(c *cluster.Cluster, r ReplyCluster) Cluster {
	return replyHarness{harness{c}, r}
}

type replyHarness struct {
	harness
	ReplyCluster
}

func (h replyHarness) HealAll(ctx context.Context) error {
	h.HealReplies()
	return h.harness.HealAll(ctx)
}

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

func (h harness) Lossy(id string, loss float64) error {
	n, err := h.node(id)
	if err != nil {
		return err
	}
	var rest []*cluster.Node
	for _, o := range h.c.Nodes {
		if o != n {
			rest = append(rest, o)
		}
	}
	return h.c.Lossy(loss, []*cluster.Node{n}, rest)
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

// admin returns a client of every node that retries for a few seconds.
func (h harness) admin() (*client.Client, error) {
	return h.c.Client(client.WithMaxRetries(10), client.WithBackoff(50*time.Millisecond, time.Second),
		client.WithTimeout(5*time.Second))
}

func (h harness) ZoneState(ctx context.Context, z string) (*history.Reconcile, error) {
	cl, err := h.admin()
	if err != nil {
		return nil, err
	}
	zs, err := cl.Zone(ctx, z)
	if err != nil {
		return nil, err
	}
	return reconcileOf(zs), nil
}

func (h harness) RecoverZone(ctx context.Context, z string, wait time.Duration) error {
	cl, err := h.admin()
	if err != nil {
		return err
	}
	zs, err := cl.RecoverZone(ctx, z, wait)
	if err != nil {
		return fmt.Errorf("recover zone %s: %w", z, err)
	}
	if zs.Phase != "normal" {
		return fmt.Errorf("recover zone %s: phase %s after %s", z, zs.Phase, wait)
	}
	return nil
}

// reconcileOf copies what the failover checker needs of a zone's status.
func reconcileOf(zs *client.ZoneStatus) *history.Reconcile {
	out := &history.Reconcile{Phase: zs.Phase, Ready: zs.Ready}
	f := zs.Failover
	if f == nil {
		return out
	}
	out.Store, out.Blacklist, out.Payments = f.Store, f.Blacklist, f.Payments
	if r := f.Report; r != nil && f.Recovered != "" {
		out.Report = reportOf(r)
	}
	return out
}

// reportOf converts the client's reconciliation report to the history's
// (the server's wire type): both have the same JSON form, which the
// client's TestWireTypesMatch holds them to.
func reportOf(r *client.ReconcileReport) *history.ReconcileReport {
	var out history.ReconcileReport
	data, err := json.Marshal(r)
	if err == nil {
		err = json.Unmarshal(data, &out)
	}
	if err != nil {
		panic(fmt.Sprintf("nemesis: reconcile report: %v", err))
	}
	return &out
}

func (h harness) Backup(z string) string { return h.c.Backup(z) }

func (h harness) CutZones(a, b string) error {
	return h.c.Partition(h.c.ZoneNodes(a), h.c.ZoneNodes(b))
}

func (h harness) MetaLeaderZone(ctx context.Context) (string, error) {
	for _, n := range h.c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		rs, err := n.Replicas(ctx)
		if err != nil {
			continue
		}
		for _, r := range rs {
			if r.Group == "meta" && r.State == "Leader" {
				return n.Zone, nil
			}
		}
	}
	return "", fmt.Errorf("no node says it leads the meta group")
}

func (h harness) CutZonesRaft(a, b string) error {
	return h.c.PartitionRaft(h.c.ZoneNodes(a), h.c.ZoneNodes(b))
}

func (h harness) FailoverZone(ctx context.Context, z string, wait time.Duration) error {
	cl, err := h.admin()
	if err != nil {
		return err
	}
	// The nemesis fails over live zones on purpose (failover-live).
	zs, err := cl.FailoverZone(ctx, z, wait, client.Forced())
	if err != nil {
		return fmt.Errorf("failover zone %s: %w", z, err)
	}
	if zs.Phase != "failover" {
		return fmt.Errorf("failover zone %s: phase %s after %s", z, zs.Phase, wait)
	}
	return nil
}
