package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Gossip. Build one with DefaultConfig (or Fast for
// tests), set BindAddr, Seeds and Meta, and pass it to Start, which calls
// Validate. Durations are wall-clock times; every field says its default.
type Config struct {
	// BindAddr is the host:port memberlist listens on, for both TCP and UDP.
	// The host must be an IP literal; "0.0.0.0" listens on every interface.
	// Port 0 picks a free port (Gossip.Addr says which). Default
	// "0.0.0.0:7946".
	BindAddr string

	// AdvertiseAddr is the host:port the other members reach this node at.
	// Empty means BindAddr, or, when BindAddr's host is unspecified
	// ("0.0.0.0"), the first private IPv4 address of this machine, as
	// memberlist chooses it. When BindAddr's port is 0 the bound port is
	// advertised. Default empty.
	AdvertiseAddr string

	// Seeds are gossip addresses (host:port; host names are resolved) of
	// members to join. Empty means this node starts a cluster of its own.
	// Entries equal to this node's own address are skipped, so every node of
	// a cluster may be given the same list. Default none.
	Seeds []string

	// Key, if set, encrypts and authenticates all gossip with AES-GCM
	// (memberlist's keyring, primary key). It must be 16, 24 or 32 bytes
	// (AES-128, -192, -256) and the same on every member; a member with
	// another key, or none, can neither join nor be joined. Nil means
	// plaintext. Default nil.
	Key []byte

	// Meta is what this node gossips about itself. Meta.NodeID is required.
	Meta Meta

	// ProbeInterval is how often this node probes one other member (round
	// robin over the members, so each member is probed about once every n-1
	// intervals by each other member). A failed probe takes the whole
	// interval. Default 1s (memberlist.DefaultLANConfig).
	ProbeInterval time.Duration

	// ProbeTimeout is how long a direct UDP probe waits for an ack before
	// this node asks IndirectChecks other members to probe, and tries TCP.
	// Must be below ProbeInterval. Set it to the 99th percentile RTT.
	// Default 500ms.
	ProbeTimeout time.Duration

	// SuspicionMult scales the time a member stays suspect before it is
	// declared dead: SuspicionMult * max(1, log10(n)) * ProbeInterval, for n
	// members, once enough other members confirm the suspicion. Default 4.
	SuspicionMult int

	// SuspicionMaxTimeoutMult scales the suspicion timeout a member starts
	// with when memberlist expects confirmations from others and gets none:
	// up to SuspicionMaxTimeoutMult times the timeout above. It bounds
	// DetectionTime. Default 6.
	SuspicionMaxTimeoutMult int

	// GossipInterval is how often this node sends queued broadcasts (joins,
	// meta updates, suspicions, deaths) to GossipNodes random members.
	// Default 200ms.
	GossipInterval time.Duration

	// GossipNodes is how many random members each gossip round goes to.
	// Default 3.
	GossipNodes int

	// IndirectChecks is how many other members are asked to probe a member
	// that missed a direct probe. Default 3.
	IndirectChecks int

	// PushPullInterval is how often this node exchanges its full state with
	// one random member over TCP (anti-entropy). Zero turns it off. Default
	// 30s.
	PushPullInterval time.Duration

	// GossipToTheDeadTime is how long memberlist keeps gossiping to a dead
	// member (so it can refute) before it forgets it. Default 30s.
	GossipToTheDeadTime time.Duration

	// TCPTimeout bounds each TCP connect, read and write: joins, push/pull
	// and TCP probe fallbacks. Default 10s.
	TCPTimeout time.Duration

	// JoinRetryInterval is the wait after the first failed join of Seeds;
	// each further failure doubles it, up to 32 times JoinRetryInterval.
	// Default 1s.
	JoinRetryInterval time.Duration

	// ReconnectInterval is how often, once joined, this node tries to join
	// members it reports dead (and the Seeds again, when it is alone), so
	// that a cluster split by a partition longer than GossipToTheDeadTime
	// heals once the network does. memberlist alone never re-contacts a
	// member it forgot. Default 30s.
	ReconnectInterval time.Duration

	// ForgetAfter is how long a dead or left member stays in Members (and a
	// dead one is retried by reconnection) after it stopped being alive.
	// Default 24h.
	ForgetAfter time.Duration

	// UpdateTimeout bounds how long UpdateMeta waits for memberlist to finish
	// broadcasting an update, and how long Leave waits for its leave marker.
	// Default 5s.
	UpdateTimeout time.Duration

	// EventBuffer is the capacity of the Events channel. When it is full,
	// new events are dropped and counted rather than block memberlist.
	// Default 1024.
	EventBuffer int

	// Logger receives this package's logs and memberlist's, each at the level
	// memberlist gives it ([DEBUG], [INFO], [WARN], [ERR]). Nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a Config with memberlist's LAN timing
// (memberlist.DefaultLANConfig): failures are detected in seconds, and
// DetectionTime bounds how many. Meta is empty and must be set.
func DefaultConfig() Config {
	lan := memberlist.DefaultLANConfig()
	return Config{
		BindAddr:                net.JoinHostPort(lan.BindAddr, strconv.Itoa(lan.BindPort)),
		ProbeInterval:           lan.ProbeInterval,
		ProbeTimeout:            lan.ProbeTimeout,
		SuspicionMult:           lan.SuspicionMult,
		SuspicionMaxTimeoutMult: lan.SuspicionMaxTimeoutMult,
		GossipInterval:          lan.GossipInterval,
		GossipNodes:             lan.GossipNodes,
		IndirectChecks:          lan.IndirectChecks,
		PushPullInterval:        lan.PushPullInterval,
		GossipToTheDeadTime:     lan.GossipToTheDeadTime,
		TCPTimeout:              lan.TCPTimeout,
		JoinRetryInterval:       time.Second,
		ReconnectInterval:       30 * time.Second,
		ForgetAfter:             24 * time.Hour,
		UpdateTimeout:           5 * time.Second,
		EventBuffer:             1024,
	}
}

// Fast returns DefaultConfig with timing for tests and single-machine
// clusters, bound to 127.0.0.1 on a free port: probes every 200ms, and a
// killed member of a handful is declared dead in about a second (at most
// DetectionTime, 3.8s for 4 members). Too eager for real networks, where a
// process paused for half a second would be suspected.
func Fast() Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1:0"
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 4
	c.SuspicionMaxTimeoutMult = 3
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.GossipToTheDeadTime = 2 * time.Second
	c.TCPTimeout = 2 * time.Second
	c.JoinRetryInterval = 50 * time.Millisecond
	c.ReconnectInterval = 250 * time.Millisecond
	c.UpdateTimeout = 2 * time.Second
	return c
}

// Validate reports every problem with c, each wrapping ErrInvalidConfig (or
// ErrInvalidMeta, ErrMetaTooLarge for Meta), joined with errors.Join. A nil
// result means Start can use c.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}

	if err := checkHostPort(c.BindAddr, true); err != nil {
		bad("BindAddr %q: %w", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		if err := checkHostPort(c.AdvertiseAddr, false); err != nil {
			bad("AdvertiseAddr %q: %w", c.AdvertiseAddr, err)
		} else if host, _, _ := net.SplitHostPort(c.AdvertiseAddr); net.ParseIP(host).IsUnspecified() {
			bad("AdvertiseAddr %q: cannot advertise an unspecified address", c.AdvertiseAddr)
		}
	}
	for i, s := range c.Seeds {
		host, port, err := net.SplitHostPort(s)
		if err == nil && (host == "" || port == "") {
			err = errors.New("host and port are both required")
		}
		if err != nil {
			bad("Seeds[%d] %q: %w", i, s, err)
		}
	}
	switch len(c.Key) {
	case 0, 16, 24, 32:
	default:
		bad("Key is %d bytes, want 16, 24 or 32 (or none)", len(c.Key))
	}
	if err := c.Meta.validate(); err != nil {
		errs = append(errs, err)
	}

	positive := []struct {
		name string
		d    time.Duration
	}{
		{"ProbeInterval", c.ProbeInterval},
		{"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval},
		{"GossipToTheDeadTime", c.GossipToTheDeadTime},
		{"TCPTimeout", c.TCPTimeout},
		{"JoinRetryInterval", c.JoinRetryInterval},
		{"ReconnectInterval", c.ReconnectInterval},
		{"ForgetAfter", c.ForgetAfter},
		{"UpdateTimeout", c.UpdateTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad("%s is %s, must be positive", p.name, p.d)
		}
	}
	if c.ProbeTimeout > 0 && c.ProbeInterval > 0 && c.ProbeTimeout >= c.ProbeInterval {
		bad("ProbeTimeout %s must be below ProbeInterval %s", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.PushPullInterval < 0 {
		bad("PushPullInterval is %s, must be zero (off) or positive", c.PushPullInterval)
	}
	if c.SuspicionMult < 1 {
		bad("SuspicionMult is %d, must be at least 1", c.SuspicionMult)
	}
	if c.SuspicionMaxTimeoutMult < 1 {
		bad("SuspicionMaxTimeoutMult is %d, must be at least 1", c.SuspicionMaxTimeoutMult)
	}
	if c.GossipNodes < 1 {
		bad("GossipNodes is %d, must be at least 1", c.GossipNodes)
	}
	if c.IndirectChecks < 0 {
		bad("IndirectChecks is %d, must not be negative", c.IndirectChecks)
	}
	if c.EventBuffer < 1 {
		bad("EventBuffer is %d, must be at least 1", c.EventBuffer)
	}
	return errors.Join(errs...)
}

// checkHostPort checks that s is an IP literal and a port. Port 0 is
// allowed only when zeroPort is set.
func checkHostPort(s string, zeroPort bool) error {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("host %q is not an IP address", host)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fmt.Errorf("port %q: %w", portStr, err)
	}
	if port == 0 && !zeroPort {
		return errors.New("port 0 cannot be advertised")
	}
	return nil
}

// memberlistConfig translates c, which Validate has accepted, into
// memberlist's configuration. The delegates are set by Start.
func (c *Config) memberlistConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Meta.NodeID
	// A node that died and comes back under another address (a container
	// with a new IP) may take its name back once it has been dead this long;
	// memberlist's default refuses it forever.
	mc.DeadNodeReclaimTime = 10 * time.Second
	host, port, _ := net.SplitHostPort(c.BindAddr)
	mc.BindAddr = host
	mc.BindPort, _ = strconv.Atoi(port)
	mc.AdvertiseAddr, mc.AdvertisePort = "", mc.BindPort
	if c.AdvertiseAddr != "" {
		host, port, _ := net.SplitHostPort(c.AdvertiseAddr)
		mc.AdvertiseAddr = host
		mc.AdvertisePort, _ = strconv.Atoi(port)
	}
	if len(c.Key) > 0 {
		mc.SecretKey = append([]byte(nil), c.Key...)
	}
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.SuspicionMaxTimeoutMult = c.SuspicionMaxTimeoutMult
	mc.GossipInterval = c.GossipInterval
	mc.GossipNodes = c.GossipNodes
	mc.IndirectChecks = c.IndirectChecks
	mc.PushPullInterval = c.PushPullInterval
	mc.GossipToTheDeadTime = c.GossipToTheDeadTime
	mc.TCPTimeout = c.TCPTimeout
	return mc
}
