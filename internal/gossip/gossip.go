package gossip

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Gossip is this node's membership agent: a memberlist member that gossips
// its Meta and keeps a view of the others. Its methods are safe for
// concurrent use. Call Leave (to be reported left) or not (to be reported
// dead), then Shutdown.
type Gossip struct {
	cfg     Config
	log     *slog.Logger
	ml      *memberlist.Memberlist
	view    *view
	metrics *metrics
	addr    string   // advertised gossip address
	seeds   []string // cfg.Seeds without this node's own address

	metaMu  sync.Mutex // guards meta and encoded
	meta    Meta
	encoded []byte

	// lifeMu serialises UpdateMeta, Leave and Shutdown: memberlist panics
	// on a Leave after Shutdown, and an update after Leave waits out its
	// timeout for a broadcast that never goes.
	lifeMu   sync.Mutex
	left     atomic.Bool
	shutdown atomic.Bool

	joined       atomic.Bool
	joinFailures atomic.Int64 // failed attempts to join Seeds, for tests
	stop         chan struct{}
	sweepDone    chan struct{}
}

// Start validates cfg, starts a memberlist member on cfg.BindAddr and
// returns without waiting for the network: joining cfg.Seeds happens in the
// background, retried with backoff until one seed answers (Joined reports
// it; progress is logged). It fails if cfg is invalid or the address cannot
// be bound.
func Start(cfg Config) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Meta = cfg.Meta.clone()
	cfg.Seeds = slices.Clone(cfg.Seeds)
	encoded, err := encodeMeta(cfg.Meta, false)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("node", cfg.Meta.NodeID)
	g := &Gossip{
		cfg:       cfg,
		log:       log,
		metrics:   newMetrics(),
		meta:      cfg.Meta,
		encoded:   encoded,
		stop:      make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	g.view = newView(cfg.Meta.NodeID, cfg.ProbeInterval, cfg.EventBuffer, log, g.metrics)
	g.metrics.members.view = g.view

	mc := cfg.memberlistConfig()
	mc.Logger = memberlistLogger(log)
	d := delegate{g}
	mc.Delegate, mc.Events, mc.Ping, mc.Alive = d, d, d, d
	g.ml, err = memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start memberlist on %s: %w", cfg.BindAddr, err)
	}
	g.addr = g.ml.LocalNode().Address()
	for _, s := range cfg.Seeds {
		if s != g.addr && s != cfg.BindAddr {
			g.seeds = append(g.seeds, s)
		}
	}
	if len(g.seeds) == 0 {
		g.joined.Store(true)
	}
	log.Info("gossip: started", "addr", g.addr, "seeds", g.seeds, "encrypted", len(cfg.Key) > 0)

	go g.joinLoop()
	go g.sweepLoop()
	return g, nil
}

// Addr returns the gossip address (host:port) the other members reach this
// node at; with port 0 in BindAddr, the port that was picked.
func (g *Gossip) Addr() string { return g.addr }

// Joined reports whether this node is part of a cluster: it had no seeds
// to join, or one of them answered.
func (g *Gossip) Joined() bool { return g.joined.Load() }

// Members returns every member this node knows of, itself included, sorted
// by NodeID: the live ones, and those dead or left within
// Config.ForgetAfter, each with its state. The caller owns the slice.
func (g *Gossip) Members() []Member { return g.view.list() }

// Alive returns the Meta of the members in StateAlive, itself included
// until it leaves, sorted by NodeID. Suspect members are left out. The
// caller owns the slice.
func (g *Gossip) Alive() []Meta {
	var metas []Meta
	for _, m := range g.view.list() {
		if m.State == StateAlive {
			metas = append(metas, m.Meta)
		}
	}
	return metas
}

// AliveByID maps the id of every member this node knows of (Members) to
// whether it is in StateAlive.
func (g *Gossip) AliveByID() map[string]bool {
	alive := map[string]bool{}
	for _, m := range g.view.list() {
		alive[m.NodeID] = m.State == StateAlive
	}
	return alive
}

// HTTPAddr returns the API address member id gossips, "" if this node
// knows no such member.
func (g *Gossip) HTTPAddr(id string) string {
	for _, m := range g.view.list() {
		if m.NodeID == id {
			return m.HTTPAddr
		}
	}
	return ""
}

// LocalMeta returns the Meta this node gossips now.
func (g *Gossip) LocalMeta() Meta {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	return g.meta.clone()
}

// UpdateMeta replaces the Meta this node gossips and broadcasts it. m.NodeID
// must stay the same. It returns once memberlist has finished broadcasting
// the update (its retransmit limit), or with an error after
// Config.UpdateTimeout; the new Meta is in effect either way and keeps
// spreading through gossip and push/pull. It refuses a Meta over
// MaxMetaSize with ErrMetaTooLarge, keeping the old one.
func (g *Gossip) UpdateMeta(m Meta) error {
	if err := m.validate(); err != nil {
		return err
	}
	if m.NodeID != g.cfg.Meta.NodeID {
		return fmt.Errorf("%w: NodeID %q cannot change to %q", ErrInvalidMeta, g.cfg.Meta.NodeID, m.NodeID)
	}
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	switch {
	case g.shutdown.Load():
		return ErrShutdown
	case g.left.Load():
		return ErrLeft
	}
	if err := g.setMeta(m, false); err != nil {
		return err
	}
	if err := g.ml.UpdateNode(g.cfg.UpdateTimeout); err != nil {
		return fmt.Errorf("gossip: broadcast meta of node %q: %w", m.NodeID, err)
	}
	return nil
}

// SetRoles makes roles the Roles this node gossips (UpdateMeta, the other
// fields unchanged), unless they are its Roles already: then it broadcasts
// nothing.
func (g *Gossip) SetRoles(roles []string) error {
	m := g.LocalMeta()
	if slices.Equal(roles, m.Roles) {
		return nil
	}
	m.Roles = roles
	return g.UpdateMeta(m)
}

// Events returns the channel of membership events. It is buffered
// (Config.EventBuffer); when it is full new events are dropped and counted
// (rzone_gossip_dropped_events_total), never blocking memberlist, so a
// reader that falls behind should resynchronise with Members. It is closed
// by Shutdown. Every call returns the same channel.
func (g *Gossip) Events() <-chan Event { return g.view.events }

// Leave announces that this node is leaving and waits up to timeout for
// the announcement to go out; zero or negative waits without bound. The
// others then report it left rather than dead. Leave first gossips a leave
// marker in this node's meta (bounded by Config.UpdateTimeout as well),
// because memberlist's own leave message reaches the others' delegates
// exactly as a death does. After Leave, call Shutdown. Calling it again
// does nothing.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.shutdown.Load() {
		return ErrShutdown
	}
	if g.left.Swap(true) {
		return nil
	}
	var deadline time.Time
	markTimeout := g.cfg.UpdateTimeout
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
		markTimeout = min(markTimeout, timeout/2)
	}
	if err := g.setMeta(g.LocalMeta(), true); err != nil {
		return err
	}
	if err := g.ml.UpdateNode(markTimeout); err != nil {
		g.log.Warn("gossip: leave marker not fully broadcast; some members may report this node dead", "err", err)
	}
	rest := time.Duration(0)
	if timeout > 0 {
		if rest = time.Until(deadline); rest <= 0 {
			rest = time.Millisecond
		}
	}
	if err := g.ml.Leave(rest); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	g.log.Info("gossip: left the cluster")
	return nil
}

// Shutdown stops this node's gossip without a leave announcement, so the
// others detect it as failed, within DetectionTime, as if it were killed.
// It closes the Events channel. It does not wait for a join in flight,
// which can take TCPTimeout per unreachable address; that join fails
// against the closed memberlist and its goroutine ends. Calling Shutdown
// again does nothing.
func (g *Gossip) Shutdown() error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.shutdown.Swap(true) {
		return nil
	}
	close(g.stop)
	err := g.ml.Shutdown()
	<-g.sweepDone
	g.view.close()
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	g.log.Info("gossip: shut down")
	return nil
}

// DetectionTime is an upper bound on how long after a member is killed this
// node reports it dead, with the configured timing and the current cluster
// size n (members this node counts live, itself included; call it before
// the failure). It is the sum of:
//
//   - (2(n-1)-1) * ProbeInterval until this node's next probe of the killed
//     member starts: memberlist probes the others round robin, one per
//     interval, and reshuffles the order after each round;
//   - ProbeInterval for that probe to fail (direct, indirect and TCP);
//   - SuspicionMaxTimeoutMult * SuspicionMult * max(1, log10(n)) *
//     ProbeInterval, the longest suspicion memberlist runs before it
//     declares the member dead (it starts there when it expects
//     confirmations, and shortens it towards SuspicionMult * max(1,
//     log10(n)) * ProbeInterval as other members confirm; their dead
//     messages can only make it earlier);
//   - one ProbeInterval for scheduling slack.
//
// It assumes this node is healthy: memberlist stretches its probe deadlines
// up to 8 times (awareness) when its own probes keep failing, and a member
// joining mid-round lengthens that round. Typical detection is much
// shorter, see the package documentation.
func (g *Gossip) DetectionTime() time.Duration {
	live, listed := g.view.sizes(time.Now(), g.cfg.GossipToTheDeadTime)
	return detectionTime(&g.cfg, live, listed)
}

// detectionTime computes DetectionTime for n live members, with listed
// members in memberlist's list (its estimate of the cluster size).
func detectionTime(c *Config, n, listed int) time.Duration {
	n = max(n, 2)
	listed = max(listed, n)
	pi := c.ProbeInterval
	probeWait := time.Duration(2*(n-1)-1) * pi
	suspicion := time.Duration(c.SuspicionMaxTimeoutMult) * suspicionTimeout(c.SuspicionMult, listed, pi)
	return probeWait + pi + suspicion + pi
}

// suspicionTimeout is memberlist's suspicion timeout for n members
// (memberlist's util.go): mult * max(1, log10(n)) * interval.
func suspicionTimeout(mult, n int, interval time.Duration) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return time.Duration(mult) * time.Duration(scale*1000) * interval / 1000
}

// Collectors returns this node's Prometheus collectors, unregistered:
// rzone_gossip_members{state} (a gauge read from Members when scraped),
// rzone_gossip_events_total{kind} and rzone_gossip_dropped_events_total.
// Every call returns the same collectors. To register those of several
// Gossips in one registry, wrap it per node, e.g.
// prometheus.WrapRegistererWith(prometheus.Labels{"node": id}, reg).
func (g *Gossip) Collectors() []prometheus.Collector {
	return []prometheus.Collector{g.metrics.members, g.metrics.events, g.metrics.dropped}
}

// metaBytes returns the encoded Meta memberlist gossips.
func (g *Gossip) metaBytes() []byte {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	return g.encoded
}

// setMeta makes m, with or without the leave marker, the Meta memberlist
// gossips from its next update.
func (g *Gossip) setMeta(m Meta, leaving bool) error {
	b, err := encodeMeta(m, leaving)
	if err != nil {
		return err
	}
	if len(b) > MaxMetaSize { // validate has checked; this keeps memberlist from panicking
		return fmt.Errorf("%w: meta of node %q encodes to %d bytes", ErrMetaTooLarge, m.NodeID, len(b))
	}
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	g.meta, g.encoded = m.clone(), b
	return nil
}
