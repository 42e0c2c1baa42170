package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/cluster/compose"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
	"github.com/rzonedb/rzone/tests/jepsen/nemesis"
	"github.com/rzonedb/rzone/tests/jepsen/workload"
)

// dockerNemeses are the fault kinds the docker backend can inject: kill
// (docker kill -s KILL, docker start), pause (docker pause, unpause),
// partition (docker network disconnect, connect), kill-zone and
// restart-all.
var dockerNemeses = []string{nemesis.Kill, nemesis.Pause, nemesis.Partition, nemesis.KillZone, nemesis.RestartAll}

// checkDocker refuses what the docker backend cannot run: another cluster
// shape than docker-compose.yml's, nemeses it cannot inject, and the
// options that need a build of the runner's own.
func (c *Config) checkDocker() error {
	if c.Zones == 0 {
		c.Zones = len(compose.Ring)
	}
	if c.NodesPerZone == 0 {
		c.NodesPerZone = 3
	}
	if c.Zones != len(compose.Ring) || c.NodesPerZone != 3 {
		return fmt.Errorf("runner: the docker backend runs docker-compose.yml's 3 zones × 3 nodes, not %d zones × %d nodes", c.Zones, c.NodesPerZone)
	}
	for _, k := range c.Nemeses {
		if !slices.Contains(dockerNemeses, k) {
			return fmt.Errorf("runner: the docker backend cannot inject the %s nemesis (it can: %s)", k, strings.Join(dockerNemeses, ","))
		}
	}
	switch {
	case c.Inject != "":
		return errors.New("runner: the docker backend runs the image of ./cmd/rzone without fault injection; Inject needs the local backend")
	case c.ClockRate != 0:
		return errors.New("runner: the docker backend cannot run a zone with a fault-injected clock; ClockRate needs the local backend")
	case c.Binary != "":
		return errors.New("runner: the docker backend builds its image from ./cmd/rzone; Binary is for the local backend")
	}
	return nil
}

// dockerCluster is docker-compose.yml's cluster under a compose project,
// image tag and network of its own. Each node's API is published on a
// fixed loopback port (a1 through RZONE_HTTP_BIND, the others through an
// override file), so that the clients on this machine address nodes one
// by one, and a node forwards what another zone owns by the route table's
// names (a1:7070 …), which resolve only on the network. Its methods are
// safe for concurrent use.
type dockerCluster struct {
	p      *compose.Project
	dir    string // the build context and the override file
	logDir string // nodes/<id>/stderr.log are written there at Close
	logf   func(format string, args ...any)
	nodes  []dockerNode
	// admin is a client of every published API that does not follow the
	// route table (its names do not resolve here) and retries for a few
	// seconds.
	admin *client.Client
	// sec is the cluster's CA, node certificate and admin token, copied
	// out of its certs volume once it is up.
	sec *cluster.Security

	closeOnce sync.Once
}

type dockerNode struct {
	compose.Node
	container string
	addr      string // the API's published loopback address
	api       *httpapi.Client
}

var (
	_ target              = (*dockerCluster)(nil)
	_ nemesis.ZoneCluster = (*dockerCluster)(nil)
	_ nemesis.Cluster     = (*dockerCluster)(nil)
)

// startDocker builds the image, brings the project up, waits until every
// zone is ready and init has exited, and returns the cluster. On error
// everything made so far is removed.
func startDocker(ctx context.Context, cfg Config) (_ *dockerCluster, err error) {
	composeCmd, err := compose.Detect(ctx)
	if err != nil {
		return nil, fmt.Errorf("runner: docker backend: %w", err)
	}
	root, err := cluster.ModuleRoot()
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	id, err := compose.RandomID()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rzone-jepsen-docker-")
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	d := &dockerCluster{
		p:      &compose.Project{Root: root, Compose: composeCmd, Name: "rzonejepsen" + id, Image: "rzone:jepsen-" + id},
		dir:    dir,
		logDir: filepath.Join(cfg.Out, "nodes"),
		logf:   cfg.Logf,
	}
	defer func() {
		if err != nil {
			d.Close()
			if ctx.Err() != nil {
				err = fmt.Errorf("runner: docker: interrupted while starting the cluster: %w", ctx.Err())
			}
		}
	}()
	if err := d.p.PickIPPrefix(ctx); err != nil {
		return nil, err
	}
	if err := d.publish(cfg.RequestTimeout); err != nil {
		return nil, err
	}
	d.logf("runner: docker: project %s, image %s, network %s.0/24", d.p.Name, d.p.Image, d.p.IPPrefix)
	begin := time.Now()
	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err = d.p.BuildImage(bctx, filepath.Join(dir, "context"))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("runner: docker: build the image: %w", err)
	}
	d.logf("runner: docker: image built in %s", time.Since(begin).Round(100*time.Millisecond))
	begin = time.Now()
	uctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	err = d.p.Up(uctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("runner: docker: %w", err)
	}
	if err := d.connect(ctx, cfg.RequestTimeout); err != nil {
		return nil, err
	}
	for i := range d.nodes {
		if d.nodes[i].container, err = d.p.ContainerID(ctx, d.nodes[i].ID); err != nil {
			return nil, fmt.Errorf("runner: docker: %w", err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := d.WaitHealthy(wctx); err != nil {
		return nil, fmt.Errorf("runner: docker: %w", err)
	}
	if err := compose.Poll(wctx, time.Minute, "the init service to exit 0", func(ctx context.Context) error {
		_, err := d.p.InitExited(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("runner: docker: %w", err)
	}
	d.logf("runner: docker: 3 zones × 3 nodes ready in %s", time.Since(begin).Round(100*time.Millisecond))
	return d, nil
}

// publish picks a free loopback port for each node's API, writes the
// override file that publishes them, and makes the nodes' API clients.
func (d *dockerCluster) publish(timeout time.Duration) error {
	var b strings.Builder
	b.WriteString("# Written by the fault-test runner: every node's API on a fixed loopback port.\nservices:\n")
	for _, n := range compose.Nodes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("runner: find a free loopback port: %w", err)
		}
		addr := l.Addr().String()
		l.Close()
		if n.ID == "a1" {
			d.p.HTTPBind = addr // docker-compose.yml publishes a1's API itself
		} else {
			fmt.Fprintf(&b, "  %s:\n    ports: [%q]\n", n.ID, addr+":7070")
		}
		d.nodes = append(d.nodes, dockerNode{Node: n, addr: addr})
	}
	f := filepath.Join(d.dir, "ports.yml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	d.p.Overrides = []string{f}
	return nil
}

// connect copies the cluster's CA, node certificate and admin token out of
// its certs volume (written by the certs service before any node starts)
// and makes the nodes' API clients and the admin client with them.
func (d *dockerCluster) connect(ctx context.Context, timeout time.Duration) error {
	dir := filepath.Join(d.dir, "certs")
	if err := d.p.CopyCerts(ctx, dir); err != nil {
		return fmt.Errorf("runner: docker: %w", err)
	}
	sec, err := cluster.LoadSecurity(dir)
	if err != nil {
		return fmt.Errorf("runner: docker: %w", err)
	}
	d.sec = sec
	for i := range d.nodes {
		d.nodes[i].api = httpapi.New(d.nodes[i].addr, timeout, sec.APIOptions()...)
	}
	d.admin, err = d.Client(client.WithRouting(false), client.WithMaxRetries(10),
		client.WithBackoff(50*time.Millisecond, time.Second), client.WithTimeout(3*time.Second))
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}

func (d *dockerCluster) Security() *cluster.Security { return d.sec }

func (d *dockerCluster) Client(opts ...client.Option) (*client.Client, error) {
	return client.New(d.HTTPAddrs(), append(d.sec.ClientOptions(), opts...)...)
}

func (d *dockerCluster) Nodes() []workload.Node {
	var out []workload.Node
	for _, n := range d.nodes {
		out = append(out, workload.Node{ID: n.ID, Zone: n.Zone, API: n.api})
	}
	return out
}

func (d *dockerCluster) MultiZone() bool     { return true }
func (d *dockerCluster) CanPartition() error { return nil }

func (d *dockerCluster) Nemesis() nemesis.Cluster { return d }

func (d *dockerCluster) HTTPAddrs() []string {
	var out []string
	for _, n := range d.nodes {
		out = append(out, n.addr)
	}
	return out
}

func (d *dockerCluster) Routes(ctx context.Context) (*api.RouteTable, error) {
	rt, err := d.admin.Routes(ctx)
	return cluster.APIRoutes(rt), err
}

func (d *dockerCluster) node(id string) (*dockerNode, error) {
	for i := range d.nodes {
		if d.nodes[i].ID == id {
			return &d.nodes[i], nil
		}
	}
	return nil, fmt.Errorf("runner: no node %q", id)
}

// containers lists the container ids of nodes.
func containers(nodes []*dockerNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.container)
	}
	return out
}

// dockerTimeout bounds one docker command of a fault.
const dockerTimeout = 30 * time.Second

func (d *dockerCluster) NodeIDs() []string {
	var out []string
	for _, n := range d.nodes {
		out = append(out, n.ID)
	}
	return out
}

// LeaderID asks every node that answers who leads and names the one that
// says it leads, preferring the highest term (of any zone, as the local
// backend's Leader).
func (d *dockerCluster) LeaderID(ctx context.Context) (string, error) {
	best, term := "", uint64(0)
	for _, n := range d.nodes {
		st, err := n.api.Status(ctx)
		if err != nil || !strings.EqualFold(st.State, "leader") {
			continue
		}
		if best == "" || st.Term > term {
			best, term = n.ID, st.Term
		}
	}
	if best == "" {
		return "", errors.New("runner: no node claims to lead")
	}
	return best, nil
}

// do runs one fault command on the nodes with ids, within dockerTimeout.
func (d *dockerCluster) do(f func(ctx context.Context, n []*dockerNode) error, ids ...string) error {
	var nodes []*dockerNode
	for _, id := range ids {
		n, err := d.node(id)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	return f(ctx, nodes)
}

func (d *dockerCluster) Kill(id string) error {
	return d.do(func(ctx context.Context, n []*dockerNode) error { return d.p.Kill(ctx, containers(n)...) }, id)
}

// Restart starts the container of a killed node and waits until the node
// answers /healthz.
func (d *dockerCluster) Restart(ctx context.Context, id string) error {
	n, err := d.node(id)
	if err != nil {
		return err
	}
	return d.restart(ctx, []*dockerNode{n})
}

func (d *dockerCluster) restart(ctx context.Context, nodes []*dockerNode) error {
	if len(nodes) == 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	err := d.p.Start(sctx, containers(nodes)...)
	cancel()
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if err := d.waitNode(ctx, n, "/healthz", n.api.Healthy); err != nil {
			return err
		}
	}
	return nil
}

// waitNode polls ok on n every 100ms until it holds or ctx ends.
func (d *dockerCluster) waitNode(ctx context.Context, n *dockerNode, what string, ok func(context.Context) bool) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		up := ok(cctx)
		cancel()
		if up {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("runner: wait for %s to answer %s: %w", n.ID, what, ctx.Err())
		case <-tick.C:
		}
	}
}

func (d *dockerCluster) Pause(id string) error {
	return d.do(func(ctx context.Context, n []*dockerNode) error { return d.p.Pause(ctx, n[0].container) }, id)
}

func (d *dockerCluster) Resume(id string) error {
	return d.do(func(ctx context.Context, n []*dockerNode) error { return d.p.Unpause(ctx, n[0].container) }, id)
}

// Isolate takes the node's container off the project's network: the other
// nodes, and the clients through its published port, lose it until Heal.
func (d *dockerCluster) Isolate(id string) error {
	return d.do(func(ctx context.Context, n []*dockerNode) error { return d.p.Disconnect(ctx, n[0].container) }, id)
}

// Heal puts every node that is off the network back on it.
func (d *dockerCluster) Heal() error {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	return d.heal(ctx, false)
}

// HealAll reconnects every node that is off the network, unpauses every
// paused one and starts every stopped one (together), and waits until
// those answer /healthz.
func (d *dockerCluster) HealAll(ctx context.Context) error { return d.heal(ctx, true) }

func (d *dockerCluster) heal(ctx context.Context, all bool) error {
	ids := containers(d.all())
	states, err := d.p.Inspect(ctx, ids...)
	if err != nil {
		return err
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	var down []*dockerNode
	for i := range d.nodes {
		n := &d.nodes[i]
		st, ok := states[n.container]
		if !ok {
			keep(fmt.Errorf("runner: docker inspect says nothing of %s's container", n.ID))
			continue
		}
		if !st.Connected {
			keep(d.p.Connect(ctx, n.Node, n.container))
		}
		if !all {
			continue
		}
		if st.Paused {
			keep(d.p.Unpause(ctx, n.container))
		}
		if !st.Running {
			down = append(down, n)
		}
	}
	keep(d.restart(ctx, down))
	return first
}

func (d *dockerCluster) all() []*dockerNode {
	out := make([]*dockerNode, len(d.nodes))
	for i := range d.nodes {
		out[i] = &d.nodes[i]
	}
	return out
}

func (d *dockerCluster) Zones() []string { return slices.Clone(compose.Ring) }

func (d *dockerCluster) ZoneNodeIDs(z string) []string {
	var out []string
	for _, n := range d.nodes {
		if n.Zone == z {
			out = append(out, n.ID)
		}
	}
	return out
}

func (d *dockerCluster) KillZone(z string) error {
	return d.do(func(ctx context.Context, n []*dockerNode) error { return d.p.Kill(ctx, containers(n)...) }, d.ZoneNodeIDs(z)...)
}

// CutZoneFromMeta is not supported: a container is on the network or off
// it, so a zone cannot be cut from some nodes only. checkDocker refuses
// the partition-zone nemesis before a run starts.
func (d *dockerCluster) CutZoneFromMeta(context.Context, string) ([]string, error) {
	return nil, errors.New("runner: the docker backend cannot cut a zone off from the meta voters only")
}

func (d *dockerCluster) KillAll() error {
	return d.do(func(ctx context.Context, n []*dockerNode) error { return d.p.Kill(ctx, containers(n)...) }, d.NodeIDs()...)
}

// RestartDown starts every stopped node, together, and waits until each
// answers /healthz.
func (d *dockerCluster) RestartDown(ctx context.Context) error {
	states, err := d.p.Inspect(ctx, containers(d.all())...)
	if err != nil {
		return err
	}
	var down []*dockerNode
	for _, n := range d.all() {
		if !states[n.container].Running {
			down = append(down, n)
		}
	}
	return d.restart(ctx, down)
}

// WaitHealthy waits until every node answers /readyz and /v1/zones shows
// the 3 zones ready, each with a leader, a valid lease, 3 voters and its
// async followers (compose.CheckZones).
func (d *dockerCluster) WaitHealthy(ctx context.Context) error {
	for _, n := range d.all() {
		if err := d.waitNode(ctx, n, "/readyz", n.api.Ready); err != nil {
			return err
		}
	}
	return compose.Poll(ctx, time.Hour, "every zone to be ready with a valid lease", func(ctx context.Context) error {
		zl, err := d.admin.Zones(ctx)
		if err != nil {
			return err
		}
		return compose.CheckZones(zl)
	})
}

// WaitQuiescent waits until, in every zone, the voters report the same
// applied index, at least their leader's when the wait began, and the sum
// of those indexes stays put for stable; it returns the sum. It asks each
// node's /v1/status through its published port, as the local backend
// does.
func (d *dockerCluster) WaitQuiescent(ctx context.Context, stable time.Duration) (uint64, error) {
	return cluster.Quiesce(ctx, stable, d.converged)
}

// converged waits until each zone's voters agree on an applied index at
// least their leader's when the wait began, and returns the sum.
func (d *dockerCluster) converged(ctx context.Context) (uint64, error) {
	var sum uint64
	for _, z := range compose.Ring {
		var target uint64
		var zone []*dockerNode
		for _, n := range d.all() {
			if n.Zone == z {
				zone = append(zone, n)
			}
		}
		var agreed uint64
		err := compose.Poll(ctx, time.Hour, "zone "+z+"'s voters to agree on their applied index", func(ctx context.Context) error {
			seen := map[string]uint64{}
			for _, n := range zone {
				st, err := n.api.Status(ctx)
				if err != nil {
					return fmt.Errorf("status of %s: %w", n.ID, err)
				}
				if target == 0 && strings.EqualFold(st.State, "leader") {
					target = st.AppliedIndex
				}
				seen[n.ID] = st.AppliedIndex
			}
			if target == 0 {
				return fmt.Errorf("no leader in zone %s", z)
			}
			for _, a := range seen {
				if a < target || a != seen[zone[0].ID] {
					return fmt.Errorf("zone %s: applied indexes %v, want all equal and at least %d", z, seen, target)
				}
			}
			agreed = seen[zone[0].ID]
			return nil
		})
		if err != nil {
			return 0, err
		}
		sum += agreed
	}
	return sum, nil
}

// Close saves every node's log to nodes/<id>/stderr.log, removes the
// containers, network, volumes and image, and the temporary folder. It
// runs once, with time of its own (the run's context may have ended).
func (d *dockerCluster) Close() error {
	var first error
	d.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, n := range d.nodes {
			if n.container == "" {
				continue
			}
			if out, stderr, err := d.p.Run(ctx, "docker", "logs", n.container); err == nil {
				dir := filepath.Join(d.logDir, n.ID)
				if os.MkdirAll(dir, 0o755) == nil {
					_ = os.WriteFile(filepath.Join(dir, "stderr.log"), []byte(stderr+out), 0o644)
				}
			}
			if n.api != nil {
				n.api.CloseIdle()
			}
		}
		if err := d.p.Down(ctx); err != nil {
			first = fmt.Errorf("runner: docker: %w", err)
		}
		if err := d.p.RemoveImage(ctx); err != nil && first == nil {
			first = fmt.Errorf("runner: docker: %w", err)
		}
		if err := os.RemoveAll(d.dir); err != nil && first == nil {
			first = fmt.Errorf("runner: %w", err)
		}
		d.logf("runner: docker: project %s and image %s removed (%v)", d.p.Name, d.p.Image, errOrNil(first))
	})
	return first
}

func errOrNil(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}
