package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
)

// Config describes a cluster to start: one standalone zone (the default),
// or, with Zones, a multi-zone cluster.
type Config struct {
	// Nodes is the number of voters of a single zone. Zero means 3. With
	// Zones it is ignored (len(Zones)*NodesPerZone nodes are started).
	Nodes int
	// Zones, when set, starts a multi-zone cluster: NodesPerZone nodes in
	// each zone, started with --zone and a gossip address, then created
	// with POST /v1/cluster/init {"zones": Zones} (ring order: each zone's
	// backup is the next one). Start returns once every zone has a ready
	// leader with a valid ownership lease and every async follower is up.
	Zones []string
	// NodesPerZone is the number of nodes of each zone when Zones is set.
	// Zero means 3.
	NodesPerZone int
	// Binary is the rzone binary to run. Empty builds ./cmd/rzone with Tags.
	Binary string
	// Tags are the build tags used when Binary is empty.
	Tags []string
	// LogDir receives one folder per node with its stdout.log and
	// stderr.log. Required.
	LogDir string
	// ServerArgs are appended to every `rzone server` command line, e.g.
	// {"--inject", "stale-read"}.
	ServerArgs []string
	// ZoneArgs are appended, after ServerArgs, to the command lines of the
	// nodes of one zone (a multi-zone cluster), e.g. {"B": {"--inject",
	// "clock-rate=0.5"}}. They stay for restarts.
	ZoneArgs map[string][]string
	// StartTimeout bounds the start of the whole cluster. Zero means 60s
	// (120s with Zones).
	StartTimeout time.Duration
	// RequestTimeout bounds each request of the nodes' API clients. Zero
	// means 5s.
	RequestTimeout time.Duration
	// Logf receives the harness's log lines (t.Logf in tests). Nil is
	// silent.
	Logf func(format string, args ...any)
	// KeepData leaves the data folders on disk after Close.
	KeepData bool
	// Insecure runs the nodes open (--insecure: plain HTTP, no tokens, no
	// node certificates, gossip unencrypted). The default is a secure
	// cluster, as rzone runs in production: a CA made for the cluster, a
	// node certificate per node, the admin token every node accepts as
	// its bootstrap token, and the harness's clients speaking TLS with it
	// (see Cluster.Security).
	Insecure bool
}

// Cluster is a running zone, or multi-zone cluster, of rzone processes.
// Close ends it.
type Cluster struct {
	// Nodes lists every node; in a multi-zone cluster zone by zone, in the
	// order of Config.Zones.
	Nodes []*Node
	// ID names the cluster's addresses, users and iptables chain.
	ID uint16

	cfg     Config
	dataDir string
	sec     *Security // nil for an open cluster
	http    *http.Client
	net     *netFaults // nil when partitions are unavailable
	netErr  error      // why partitions are unavailable
	logf    func(string, ...any)

	closeOnce sync.Once
}

// Start builds the binary if needed and starts the cluster. A single zone:
// the first node starts with --bootstrap, the others join it, and Start
// waits until every node is ready and the leader counts every voter. With
// Config.Zones: every node starts with its zone and gossip address, and
// Start waits for gossip to see them all, initializes the cluster and
// waits until every zone is ready (see WaitZonesReady).
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if len(cfg.Zones) > 0 {
		if err := checkZones(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.LogDir == "" {
		return nil, errors.New("cluster: Config.LogDir is required")
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
		if len(cfg.Zones) > 0 {
			cfg.StartTimeout = 120 * time.Second
		}
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if cfg.Binary == "" && len(cfg.Tags) == 0 {
		cfg.Binary = os.Getenv(BinaryEnv)
	}
	if cfg.Binary == "" {
		bin, err := Build(ctx, cfg.Tags...)
		if err != nil {
			return nil, err
		}
		cfg.Binary = bin
	}
	c := &Cluster{cfg: cfg, logf: logf, ID: randomID()}
	if err := c.layout(); err != nil {
		c.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := c.boot(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func randomID() uint16 {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint16(os.Getpid())
	}
	return binary.BigEndian.Uint16(b[:])
}

// layout chooses addresses, users and folders for every node.
func (c *Cluster) layout() error {
	root := os.Geteuid() == 0
	dataDir, err := os.MkdirTemp("", fmt.Sprintf("rzone-cluster-%04x-", c.ID))
	if err != nil {
		return fmt.Errorf("cluster data folder: %w", err)
	}
	c.dataDir = dataDir
	if err := os.Chmod(dataDir, 0o755); err != nil {
		return fmt.Errorf("cluster data folder: %w", err)
	}
	if !c.cfg.Insecure {
		if c.sec, err = newSecurity(filepath.Join(dataDir, "certs")); err != nil {
			return err
		}
	}
	c.http = c.sec.HTTPClient(0)
	// 127.A.B.x with A in 64..127: clear of 127.0.0.x, which other
	// programs (resolvers, other clusters) use.
	prefix := fmt.Sprintf("127.%d.%d.", 64+int(c.ID>>8)%64, c.ID&0xff)
	useOwnIPs := canBind(prefix + "11")
	if !useOwnIPs {
		c.logf("cluster: cannot bind %s11; every node uses 127.0.0.1", prefix)
	}
	// The ports handed out so far: the kernel may give a port it just
	// freed again, and two nodes, or a node's Raft and gossip addresses,
	// must never share one.
	taken := portSet{}
	for i := 0; i < c.cfg.Nodes; i++ {
		id, zone := "n"+strconv.Itoa(i+1), ""
		if c.MultiZone() {
			zone = c.cfg.Zones[i/c.cfg.NodesPerZone]
			id = strings.ToLower(zone) + strconv.Itoa(i%c.cfg.NodesPerZone+1)
		}
		ip := "127.0.0.1"
		if useOwnIPs {
			ip = prefix + strconv.Itoa(11+i)
		}
		raftPort, err := taken.freePort(ip, false)
		if err != nil {
			return err
		}
		httpPort, err := taken.freePort(ip, false)
		if err != nil {
			return err
		}
		n := &Node{
			ID:       id,
			Zone:     zone,
			IP:       ip,
			RaftAddr: net.JoinHostPort(ip, strconv.Itoa(raftPort)),
			HTTPAddr: net.JoinHostPort(ip, strconv.Itoa(httpPort)),
			DataDir:  filepath.Join(dataDir, id),
			LogDir:   filepath.Join(c.cfg.LogDir, id),
			UID:      -1,
			bin:      c.cfg.Binary,
			logf:     c.logf,
			exited:   make(chan struct{}),
			sec:      c.sec,
			http:     c.http,
		}
		close(n.exited)
		if root {
			n.UID = nodeUID(c.ID, i, c.cfg.Nodes)
		}
		n.args = []string{
			"--node-id", n.ID,
			"--data-dir", n.DataDir,
			"--raft-addr", n.RaftAddr,
			"--http-addr", n.HTTPAddr,
		}
		if c.sec == nil {
			n.args = append(n.args, "--insecure")
		} else {
			certsDir := filepath.Join(dataDir, "certs-"+id)
			if err := c.sec.nodeCerts(certsDir, id, []string{ip, "127.0.0.1", "localhost"}, n.UID); err != nil {
				return err
			}
			n.args = append(n.args, "--certs-dir", certsDir, "--bootstrap-token-file", filepath.Join(certsDir, TokenFile))
		}
		if c.MultiZone() {
			gossipPort, err := taken.freePort(ip, true)
			if err != nil {
				return err
			}
			n.GossipAddr = net.JoinHostPort(ip, strconv.Itoa(gossipPort))
			n.args = append(n.args, "--zone", zone, "--gossip-addr", n.GossipAddr)
		}
		// Test clusters debit a simulated bank in auto-debit runs.
		n.args = append(n.args, "--bank", "sim")
		n.args = append(n.args, c.cfg.ServerArgs...)
		n.args = append(n.args, c.cfg.ZoneArgs[zone]...)
		n.api = httpapi.New(n.HTTPAddr, c.cfg.RequestTimeout, c.sec.APIOptions()...)
		for _, d := range []string{n.DataDir, n.LogDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("node %s: %w", id, err)
			}
		}
		if n.UID >= 0 {
			if err := os.Chown(n.DataDir, n.UID, n.UID); err != nil {
				return fmt.Errorf("node %s: give data folder to uid %d: %w", id, n.UID, err)
			}
		}
		c.Nodes = append(c.Nodes, n)
	}
	if c.MultiZone() {
		// Every node joins gossip through the first node of each zone
		// (a node skips its own address), so any of them may be down
		// when another restarts.
		var seeds []string
		for i := 0; i < c.cfg.Nodes; i += c.cfg.NodesPerZone {
			seeds = append(seeds, c.Nodes[i].GossipAddr)
		}
		for _, n := range c.Nodes {
			n.args = append(n.args, "--gossip-join", strings.Join(seeds, ","))
		}
	}
	if !root {
		c.netErr = errors.New("partitions need root (iptables rules and one Unix user per node)")
	} else if nf, err := newNetFaults(c.ID, c.logf); err != nil {
		c.netErr = err
	} else {
		c.net = nf
	}
	return nil
}

func canBind(ip string) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// portSet holds the addresses already handed out.
type portSet map[string]bool

// freePort finds a TCP port on ip that is free now and not in the set
// (with udp, free for UDP too, as memberlist wants), and adds it.
func (ps portSet) freePort(ip string, udp bool) (int, error) {
	for try := 0; try < 20; try++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		free := !ps[addr]
		if free && udp {
			pc, err := net.ListenPacket("udp", addr)
			if free = err == nil; free {
				pc.Close()
			}
		}
		l.Close()
		if free {
			ps[addr] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("find a free port on %s: gave up after 20 tries", ip)
}

// boot starts n1 with --bootstrap, waits for it to lead, then joins the
// rest; a multi-zone cluster boots with bootZones.
func (c *Cluster) boot(ctx context.Context) error {
	if c.MultiZone() {
		return c.bootZones(ctx)
	}
	first := c.Nodes[0]
	if err := first.start("--bootstrap"); err != nil {
		return err
	}
	if err := first.WaitReady(ctx); err != nil {
		return err
	}
	for _, n := range c.Nodes[1:] {
		if err := n.start("--join", first.HTTPAddr); err != nil {
			return err
		}
	}
	return c.WaitHealthy(ctx)
}

// WaitHealthy waits until every running node is ready and the leader's
// status lists every node as a voter. In a multi-zone cluster it waits
// until every running node is ready and then WaitZonesReady.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		if err := n.WaitReady(ctx); err != nil {
			return err
		}
	}
	if c.MultiZone() {
		_, err := c.WaitZonesReady(ctx)
		return err
	}
	return c.pollUntil(ctx, "the leader to count every voter", func(ctx context.Context) (bool, error) {
		l, err := c.Leader(ctx)
		if err != nil {
			return false, nil
		}
		st, err := l.Status(ctx)
		if err != nil {
			return false, nil
		}
		return len(st.Voters) == len(c.Nodes), nil
	})
}

// Node returns the node with id, or nil.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// NodeByHTTP returns the node listening on HTTP address addr, or nil.
func (c *Cluster) NodeByHTTP(addr string) *Node {
	for _, n := range c.Nodes {
		if n.HTTPAddr == addr {
			return n
		}
	}
	return nil
}

// HTTPAddrs lists the nodes' HTTP addresses in node order.
func (c *Cluster) HTTPAddrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.HTTPAddr
	}
	return out
}

// Leader asks the running, unpaused nodes who leads and returns the node
// that says it is the leader, preferring the highest term. It fails when no
// node claims leadership. In a multi-zone cluster that is the leader of any
// zone; ZoneLeader asks about one zone.
func (c *Cluster) Leader(ctx context.Context) (*Node, error) {
	var best *Node
	var bestTerm uint64
	for _, n := range c.Nodes {
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
		return nil, errors.New("no node claims to lead")
	}
	return best, nil
}

// WaitLeader polls until some node leads and returns it.
func (c *Cluster) WaitLeader(ctx context.Context) (*Node, error) {
	var leader *Node
	err := c.pollUntil(ctx, "a leader", func(ctx context.Context) (bool, error) {
		l, err := c.Leader(ctx)
		leader = l
		return err == nil, nil
	})
	return leader, err
}

// WaitConverged waits until every running, unpaused node reports the same
// applied index, at least the leader's applied index when the wait began,
// and returns that index. Stale reads on every node then see the same
// state. (The applied index counts state-machine entries; raft's own entries
// such as no-ops and barriers may leave it below the commit index.)
//
// In a multi-zone cluster it does so for each zone's voters (WaitZoneConverged)
// and returns the sum of the zones' indexes, which moves whenever one of
// them does (so WaitQuiescent works unchanged).
func (c *Cluster) WaitConverged(ctx context.Context) (uint64, error) {
	if c.MultiZone() {
		var sum uint64
		for _, z := range c.cfg.Zones {
			idx, err := c.WaitZoneConverged(ctx, z)
			if err != nil {
				return 0, err
			}
			sum += idx
		}
		return sum, nil
	}
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		return 0, err
	}
	return c.waitAgree(ctx, leader, c.Nodes)
}

// waitAgree waits until the running, unpaused nodes among nodes report the
// same applied index of their own zone, at least leader's when the wait
// began, and returns it.
func (c *Cluster) waitAgree(ctx context.Context, leader *Node, nodes []*Node) (uint64, error) {
	st, err := leader.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("status of leader %s: %w", leader.ID, err)
	}
	target := st.AppliedIndex
	var applied uint64
	err = c.pollUntil(ctx, fmt.Sprintf("every node to apply index %d and agree", target), func(ctx context.Context) (bool, error) {
		var seen []uint64
		for _, n := range nodes {
			if !n.Running() || n.Paused() {
				continue
			}
			s, err := n.Status(ctx)
			if err != nil {
				return false, nil
			}
			seen = append(seen, s.AppliedIndex)
		}
		if len(seen) == 0 {
			return false, nil
		}
		for _, a := range seen {
			if a < target || a != seen[0] {
				return false, nil
			}
		}
		applied = seen[0]
		return true, nil
	})
	return applied, err
}

// WaitQuiescent waits until WaitConverged returns the same index twice,
// stable apart (the leader's background work, such as posting, has
// stopped writing), and returns it.
func (c *Cluster) WaitQuiescent(ctx context.Context, stable time.Duration) (uint64, error) {
	return Quiesce(ctx, stable, c.WaitConverged)
}

// Quiesce calls converged until it returns the same index twice, stable
// apart, and returns that index: the shared wait of every backend whose
// converged waits for its voters to agree on an applied index.
func Quiesce(ctx context.Context, stable time.Duration, converged func(context.Context) (uint64, error)) (uint64, error) {
	last, err := converged(ctx)
	if err != nil {
		return 0, err
	}
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for applied index %d to stay put: %w", last, ctx.Err())
		case <-time.After(stable):
		}
		idx, err := converged(ctx)
		if err != nil {
			return 0, err
		}
		if idx == last {
			return idx, nil
		}
		last = idx
	}
}

// Statuses reads /v1/status of every running node; a node that does not
// answer has a nil entry.
func (c *Cluster) Statuses(ctx context.Context) map[string]*api.Status {
	out := make(map[string]*api.Status, len(c.Nodes))
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			out[n.ID] = nil
			continue
		}
		st, _ := n.Status(ctx)
		out[n.ID] = st
	}
	return out
}

func (c *Cluster) pollUntil(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// HealAll undoes every fault: resumes paused nodes, restarts killed ones and
// removes every partition rule. It tries every step and returns the first
// error.
func (c *Cluster) HealAll(ctx context.Context) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if c.net != nil {
		keep(c.net.heal())
	}
	for _, n := range c.Nodes {
		if n.Paused() {
			keep(n.Resume())
		}
	}
	for _, n := range c.Nodes {
		if !n.Running() {
			keep(n.Restart(ctx))
		}
	}
	return first
}

// Close kills every node the cluster started, removes its iptables chain and,
// unless KeepData, its data folders. It is safe to call more than once.
func (c *Cluster) Close() error {
	var first error
	c.closeOnce.Do(func() {
		if c.net != nil {
			if err := c.net.remove(); err != nil {
				first = err
			}
		}
		for _, n := range c.Nodes {
			if n.Paused() {
				_ = n.Resume()
			}
			if err := n.Kill(); err != nil && first == nil {
				first = err
			}
			n.api.CloseIdle()
		}
		if c.dataDir != "" && !c.cfg.KeepData {
			if err := os.RemoveAll(c.dataDir); err != nil && first == nil {
				first = err
			}
		}
	})
	return first
}

// DataDir is the folder holding every node's data folder.
func (c *Cluster) DataDir() string { return c.dataDir }

// Security is what a client needs to reach this cluster (CA, admin token,
// TLS configs), or nil for an open cluster (Config.Insecure).
func (c *Cluster) Security() *Security { return c.sec }

// Client returns a client library client of every node of the cluster,
// secured as the cluster is, with opts after the security options.
func (c *Cluster) Client(opts ...client.Option) (*client.Client, error) {
	return client.New(c.HTTPAddrs(), append(c.sec.ClientOptions(), opts...)...)
}
