package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// maxZoneNodes bounds a multi-zone cluster: node addresses are 127.A.B.11
// upwards and each cluster owns 32 Unix users.
const maxZoneNodes = 32

// checkZones validates the multi-zone part of cfg and sets Nodes.
func checkZones(cfg *Config) error {
	if cfg.NodesPerZone == 0 {
		cfg.NodesPerZone = 3
	}
	seen := map[string]bool{}
	for _, z := range cfg.Zones {
		if z == "" || strings.ContainsAny(z, " ,/") || seen[z] {
			return fmt.Errorf("cluster: bad or repeated zone name %q in %v", z, cfg.Zones)
		}
		seen[z] = true
	}
	total := len(cfg.Zones) * cfg.NodesPerZone
	if cfg.NodesPerZone < 1 || total > maxZoneNodes {
		return fmt.Errorf("cluster: %d zones of %d nodes: want 1 to %d nodes in all", len(cfg.Zones), cfg.NodesPerZone, maxZoneNodes)
	}
	cfg.Nodes = total
	return nil
}

// nodeUID is the Unix user of node i of cluster id, of nodes in all. A
// cluster of up to 8 nodes keeps the harness's first scheme (200000 +
// 8·id + i); a larger one takes 32 users of a range of its own, so that
// two clusters never share a user.
func nodeUID(id uint16, i, nodes int) int {
	if nodes <= 8 {
		return 200000 + int(id)*8 + i
	}
	return 1_000_000 + int(id)*maxZoneNodes + i
}

// MultiZone reports whether the cluster was started with Config.Zones.
func (c *Cluster) MultiZone() bool { return len(c.cfg.Zones) > 0 }

// Zones lists the zones of a multi-zone cluster in ring order (each
// zone's backup is the next one), nil for a single zone.
func (c *Cluster) Zones() []string { return slices.Clone(c.cfg.Zones) }

// Backup returns the backup zone of zone z: the next zone in the ring.
func (c *Cluster) Backup(z string) string {
	i := slices.Index(c.cfg.Zones, z)
	if i < 0 || len(c.cfg.Zones) < 2 {
		return ""
	}
	return c.cfg.Zones[(i+1)%len(c.cfg.Zones)]
}

// ZoneNodes lists the nodes of zone z in id order.
func (c *Cluster) ZoneNodes(z string) []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Zone == z {
			out = append(out, n)
		}
	}
	return out
}

// Up returns the first node that runs and is not paused, or nil; a handy
// node to ask for the cluster's view.
func (c *Cluster) Up() *Node {
	for _, n := range c.Nodes {
		if n.Running() && !n.Paused() {
			return n
		}
	}
	return nil
}

// bootZones starts every node, waits until gossip on the first node sees
// them all alive, initializes the cluster through it and waits until every
// zone is ready.
func (c *Cluster) bootZones(ctx context.Context) error {
	began := time.Now()
	for _, n := range c.Nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if err := n.WaitHealthy(ctx); err != nil {
			return err
		}
	}
	first := c.Nodes[0]
	err := c.pollUntil(ctx, fmt.Sprintf("gossip on %s to see all %d nodes alive", first.ID, len(c.Nodes)), func(ctx context.Context) (bool, error) {
		ml, err := first.Members(ctx)
		if err != nil {
			return false, nil
		}
		alive := 0
		for _, m := range ml.Members {
			if m.State == "alive" {
				alive++
			}
		}
		return alive == len(c.Nodes), nil
	})
	if err != nil {
		return err
	}
	c.logf("cluster: gossip on %s sees all %d nodes %s after the start", first.ID, len(c.Nodes), time.Since(began).Round(time.Millisecond))
	var lastErr error
	err = c.pollUntil(ctx, "cluster init", func(ctx context.Context) (bool, error) {
		var rt api.RouteTable
		if err := first.PostJSON(ctx, "/v1/cluster/init", map[string]any{"zones": c.cfg.Zones}, &rt); err != nil {
			var ae *api.Error
			if errors.As(err, &ae) && ae.Code == api.CodeInvalidArgument {
				return false, err
			}
			lastErr = err
			return false, nil
		}
		return len(rt.Shards) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last error: %v)", err, lastErr)
	}
	c.logf("cluster: initialized zones %s through %s %s after the start", strings.Join(c.cfg.Zones, ","), first.ID, time.Since(began).Round(time.Millisecond))
	if err := c.WaitHealthy(ctx); err != nil {
		return err
	}
	c.logf("cluster: every zone ready with a valid lease %s after the start", time.Since(began).Round(time.Millisecond))
	return nil
}

// WaitZonesReady waits until /v1/zones, asked of a running node, shows
// every zone with a leader that is ready and holds a valid lease, with
// NodesPerZone voters and NodesPerZone async followers, where every replica
// on a running, unpaused node answers. It returns that last view.
func (c *Cluster) WaitZonesReady(ctx context.Context) (*api.ZoneList, error) {
	if !c.MultiZone() {
		return nil, errors.New("cluster: WaitZonesReady needs a multi-zone cluster")
	}
	var last *api.ZoneList
	var why string
	err := c.pollUntil(ctx, "every zone to be ready with a valid lease", func(ctx context.Context) (bool, error) {
		n := c.Up()
		if n == nil {
			why = "no node is up"
			return false, nil
		}
		zl, err := n.ZoneList(ctx)
		if err != nil {
			why = err.Error()
			return false, nil
		}
		last = zl
		why = c.zonesNotReady(zl)
		return why == "", nil
	})
	if err != nil {
		return last, fmt.Errorf("%w: %s", err, why)
	}
	return last, nil
}

// zonesNotReady says what keeps zl from being ready, "" if nothing.
func (c *Cluster) zonesNotReady(zl *api.ZoneList) string {
	if len(zl.Zones) != len(c.cfg.Zones) {
		return fmt.Sprintf("%d zones listed, want %d", len(zl.Zones), len(c.cfg.Zones))
	}
	for _, z := range zl.Zones {
		switch {
		case z.Leader == "":
			return fmt.Sprintf("zone %s has no leader", z.Zone)
		case !z.Ready:
			return fmt.Sprintf("zone %s is not ready", z.Zone)
		case !z.LeaseValid:
			return fmt.Sprintf("zone %s holds no valid lease (until %q)", z.Zone, z.LeaseUntil)
		case len(z.Voters) != c.cfg.NodesPerZone:
			return fmt.Sprintf("zone %s has %d voters", z.Zone, len(z.Voters))
		case len(c.cfg.Zones) > 1 && len(z.Followers) != c.cfg.NodesPerZone:
			return fmt.Sprintf("zone %s has %d async followers", z.Zone, len(z.Followers))
		}
		for _, rs := range append(slices.Clone(z.Voters), z.Followers...) {
			if n := c.Node(rs.Node); n != nil && n.Running() && !n.Paused() && rs.State == "unreachable" {
				return fmt.Sprintf("replica of zone %s on %s does not answer", z.Zone, rs.Node)
			}
		}
	}
	return ""
}

// ZoneStatus returns zone z's entry of zl, or nil.
func ZoneStatus(zl *api.ZoneList, z string) *api.ZoneStatus {
	for i := range zl.Zones {
		if zl.Zones[i].Zone == z {
			return &zl.Zones[i]
		}
	}
	return nil
}

// ZoneLeader asks the running, unpaused nodes of zone z who leads it and
// returns the node that says it leads, preferring the highest term.
func (c *Cluster) ZoneLeader(ctx context.Context, z string) (*Node, error) {
	var best *Node
	var bestTerm uint64
	for _, n := range c.ZoneNodes(z) {
		if !n.Running() || n.Paused() {
			continue
		}
		st, err := n.Status(ctx)
		if err != nil || !strings.EqualFold(st.State, "leader") {
			continue
		}
		if best == nil || st.Term > bestTerm {
			best, bestTerm = n, st.Term
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no node of zone %s claims to lead", z)
	}
	return best, nil
}

// WaitZoneLeader polls until some node of zone z leads it and returns it.
func (c *Cluster) WaitZoneLeader(ctx context.Context, z string) (*Node, error) {
	var leader *Node
	err := c.pollUntil(ctx, "a leader of zone "+z, func(ctx context.Context) (bool, error) {
		l, err := c.ZoneLeader(ctx, z)
		leader = l
		return err == nil, nil
	})
	return leader, err
}

// WaitZoneConverged waits until the running, unpaused voters of zone z
// report the same applied index, at least their leader's when the wait
// began, and returns it.
func (c *Cluster) WaitZoneConverged(ctx context.Context, z string) (uint64, error) {
	leader, err := c.WaitZoneLeader(ctx, z)
	if err != nil {
		return 0, err
	}
	return c.waitAgree(ctx, leader, c.ZoneNodes(z))
}

// MetaVoters returns the nodes that gossip the "meta" role (the meta
// group's voters), as node n sees them. Roles reach gossip a moment after
// the cluster is initialized, so it waits (up to 10 s) until it sees three,
// or every node of a smaller cluster.
func (c *Cluster) MetaVoters(ctx context.Context, n *Node) ([]*Node, error) {
	want := min(3, len(c.Nodes))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ml, err := n.Members(ctx)
		if err != nil {
			return nil, err
		}
		var out []*Node
		for _, m := range ml.Members {
			if slices.Contains(m.Roles, "meta") {
				if mn := c.Node(m.ID); mn != nil {
					out = append(out, mn)
				}
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			if len(out) == 0 {
				return nil, fmt.Errorf("%s's members list no node with the meta role", n.ID)
			}
			slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// GetJSON GETs path from the node into out, within 3 seconds (or ctx). An
// API error reply is returned as an *api.Error.
func (n *Node) GetJSON(ctx context.Context, path string, out any) error {
	return n.doJSON(ctx, http.MethodGet, path, nil, out)
}

// PostJSON POSTs body as JSON to path on the node and decodes the reply
// into out (if not nil), within 30 seconds (or ctx).
func (n *Node) PostJSON(ctx context.Context, path string, body, out any) error {
	return n.doJSON(ctx, http.MethodPost, path, body, out)
}

func (n *Node) doJSON(ctx context.Context, method, path string, body, out any) error {
	limit := 3 * time.Second
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
		limit = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, n.URL(path), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	data, status, err := n.fetch(req)
	if err != nil {
		return err
	}
	if status >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			return eb.Error
		}
		return fmt.Errorf("%s %s on %s: status %d: %.200s", method, path, n.ID, status, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s on %s: decode: %w", method, path, n.ID, err)
	}
	return nil
}

// URL is the node's address for path ("https://..." in a secure cluster).
func (n *Node) URL(path string) string { return n.sec.Scheme() + "://" + n.HTTPAddr + path }

// fetch sends the harness's own request (the admin token, and a node
// certificate in a secure cluster) and reads the reply.
func (n *Node) fetch(req *http.Request) ([]byte, int, error) {
	n.sec.Authorize(req)
	resp, err := n.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s on %s: %w", req.Method, req.URL.Path, n.ID, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s on %s: read reply: %w", req.Method, req.URL.Path, n.ID, err)
	}
	return data, resp.StatusCode, nil
}

// ZoneList reads the node's GET /v1/zones.
func (n *Node) ZoneList(ctx context.Context) (*api.ZoneList, error) {
	var zl api.ZoneList
	if err := n.GetJSON(ctx, "/v1/zones", &zl); err != nil {
		return nil, err
	}
	return &zl, nil
}

// Members reads the node's GET /v1/members: gossip membership as it sees it.
func (n *Node) Members(ctx context.Context) (*api.MemberList, error) {
	var ml api.MemberList
	if err := n.GetJSON(ctx, "/v1/members", &ml); err != nil {
		return nil, err
	}
	return &ml, nil
}

// Routes reads the node's GET /v1/routes.
func (n *Node) Routes(ctx context.Context) (*api.RouteTable, error) {
	var rt api.RouteTable
	if err := n.GetJSON(ctx, "/v1/routes", &rt); err != nil {
		return nil, err
	}
	return &rt, nil
}

// CutZoneFromMeta cuts the nodes of zone z off from the meta group's voters
// outside z, both ways (raft and API ports), so that z's leader can no
// longer renew its ownership lease while the zone itself, and every other
// link, keeps working. It returns the voters it cut z from. Heal undoes it.
func (c *Cluster) CutZoneFromMeta(ctx context.Context, z string) ([]*Node, error) {
	n := c.Up()
	if n == nil {
		return nil, errors.New("cluster: no node is up to ask for the meta voters")
	}
	voters, err := c.MetaVoters(ctx, n)
	if err != nil {
		return nil, err
	}
	var outside []*Node
	for _, v := range voters {
		if v.Zone != z {
			outside = append(outside, v)
		}
	}
	if len(outside) == 0 {
		return nil, fmt.Errorf("cluster: every meta voter is in zone %s; nothing to cut it from", z)
	}
	return outside, c.Partition(c.ZoneNodes(z), outside)
}

// KillZone kills every running node of zone z with SIGKILL and returns the
// first error.
func (c *Cluster) KillZone(z string) error {
	var first error
	for _, n := range c.ZoneNodes(z) {
		if !n.Running() {
			continue
		}
		if err := n.Kill(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RestartNodes starts every node of nodes that is not running, all at once
// (a zone or a meta group without a quorum needs its members together),
// and waits until each answers /healthz. It returns the first error.
func (c *Cluster) RestartNodes(ctx context.Context, nodes []*Node) error {
	errs := make(chan error, len(nodes))
	started := 0
	for _, n := range nodes {
		if n.Running() {
			continue
		}
		started++
		go func() { errs <- n.Restart(ctx) }()
	}
	var first error
	for i := 0; i < started; i++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Replicas reads the node's GET /v1/internal/replicas: every Raft group
// replica it hosts (the harness presents a node certificate in a secure
// cluster).
func (n *Node) Replicas(ctx context.Context) ([]api.ReplicaState, error) {
	var rs []api.ReplicaState
	if err := n.GetJSON(ctx, "/v1/internal/replicas", &rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// Do sends req (its URL made with URL) with the harness's credentials: the
// admin token, and a node certificate in a secure cluster.
func (n *Node) Do(req *http.Request) (*http.Response, error) {
	n.sec.Authorize(req)
	return n.http.Do(req)
}
