package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// netFaults owns one iptables chain, RZONE-<id>, jumped to from OUTPUT. A cut
// between nodes a and b is a pair of DROP rules per direction: packets of
// a's connections to b's raft and HTTP ports, and the converse. Traffic of
// the test's own clients (another user) is never dropped.
//
// A node's connections are told by their owner, the node's Unix user
// (nodes dial from 127.0.0.1, so the source address says nothing). The
// owner match alone leaks: once a process closes a socket that still has
// unsent data (an HTTP request whose context timed out), the kernel keeps
// retransmitting it from an orphaned socket that no owner match sees, and
// the request arrives after all. So a rule first stamps every connection a
// node's user sends on with a connection mark equal to its UID, and the
// DROP rules match that mark, which outlives the socket. Where connmark is
// unavailable the DROP rules fall back to the owner match.
type netFaults struct {
	chain string
	logf  func(string, ...any)

	mu      sync.Mutex
	created bool
	cuts    map[[2]string]bool // node id pairs (ordered) currently cut
	marked  map[int]bool       // UIDs whose connections the chain marks
	noMark  bool               // connmark failed: owner-match rules only
}

// ErrNoPartitions is wrapped by the error of Partition and Isolate when the
// machine cannot drop packets between nodes (no root, no iptables).
var ErrNoPartitions = errors.New("cluster: partitions unavailable")

func newNetFaults(id uint16, logf func(string, ...any)) (*netFaults, error) {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, fmt.Errorf("iptables not found: %w", err)
	}
	if _, err := iptables("-S", "OUTPUT"); err != nil {
		return nil, fmt.Errorf("iptables unusable: %w", err)
	}
	return &netFaults{chain: fmt.Sprintf("RZONE-%04x", id), logf: logf, cuts: map[[2]string]bool{}, marked: map[int]bool{}}, nil
}

func iptables(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	full := append([]string{"-w", "10"}, args...)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "iptables", full...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("iptables %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func (f *netFaults) ensureChainLocked() error {
	if f.created {
		return nil
	}
	if _, err := iptables("-N", f.chain); err != nil {
		return err
	}
	if _, err := iptables("-I", "OUTPUT", "1", "-j", f.chain); err != nil {
		_, _ = iptables("-X", f.chain)
		return err
	}
	f.created = true
	f.logf("cluster: created iptables chain %s", f.chain)
	return nil
}

// markRule (arguments after "-A chain") stamps the connections of uid's
// packets with the mark uid.
func markRule(uid int) []string {
	return []string{"-m", "owner", "--uid-owner", strconv.Itoa(uid), "-j", "CONNMARK", "--set-mark", strconv.Itoa(uid)}
}

// cutRules returns the rules (arguments after "-A chain") that drop what
// from sends to to's raft and HTTP ports: on connections marked with from's
// UID, or, with owner, on packets of sockets from's user owns.
func cutRules(from, to *Node, owner, raftOnly bool, extra []string) ([][]string, error) {
	var rules [][]string
	addrs := []string{to.RaftAddr, to.HTTPAddr}
	if raftOnly {
		addrs = addrs[:1]
	}
	for _, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("cut %s→%s: %w", from.ID, to.ID, err)
		}
		match := []string{"-m", "connmark", "--mark", strconv.Itoa(from.UID)}
		if owner {
			match = []string{"-m", "owner", "--uid-owner", strconv.Itoa(from.UID)}
		}
		rule := append(append([]string{"-p", "tcp"}, match...), "-d", host, "--dport", port)
		rules = append(rules, append(append(rule, extra...), "-j", "DROP"))
	}
	return rules, nil
}

// partition cuts every pair of nodes in different groups, both ways. The
// rules go in with one iptables-restore call, so the whole cut takes effect
// at once (a cut of 3 nodes from 2 adds 24 rules, which one iptables call
// each takes over a second to add on a busy machine); if that fails they
// are added one by one. With extra matches (a lossy link: drop a random
// share of packets) the links are not recorded as cut.
func (f *netFaults) partition(groups [][]*Node, extra ...string) error {
	return f.cut(groups, false, extra...)
}

// cut is partition, of the raft ports alone when raftOnly.
func (f *netFaults) cut(groups [][]*Node, raftOnly bool, extra ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.ensureChainLocked(); err != nil {
		return err
	}
	var keys [][2]string
	var pairs [][2]*Node
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					k := [2]string{a.ID, b.ID}
					if (f.cuts[k] && len(extra) == 0) || slices.Contains(keys, k) {
						continue
					}
					keys = append(keys, k)
					pairs = append(pairs, [2]*Node{a, b})
				}
			}
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	build := func(owner bool) ([][]string, []int, error) {
		var marks, drops [][]string
		var uids []int
		for _, p := range pairs {
			if uid := p[0].UID; !owner && !f.marked[uid] && !slices.Contains(uids, uid) {
				uids = append(uids, uid)
				marks = append(marks, markRule(uid))
			}
			r, err := cutRules(p[0], p[1], owner, raftOnly, extra)
			if err != nil {
				return nil, nil, err
			}
			drops = append(drops, r...)
		}
		return append(marks, drops...), uids, nil
	}
	rules, uids, err := build(f.noMark)
	if err != nil {
		return err
	}
	if err := f.restoreLocked(rules); err != nil {
		if !f.noMark {
			f.logf("cluster: iptables-restore with connmark failed (%v); cutting by socket owner only, which lets a closed socket's retransmissions through", err)
			f.noMark = true
			if rules, uids, err = build(true); err != nil {
				return err
			}
			err = f.restoreLocked(rules)
		}
		if err != nil {
			f.logf("cluster: iptables-restore failed (%v); adding %d rules one by one", err, len(rules))
			for _, r := range rules {
				if _, err := iptables(append([]string{"-A", f.chain}, r...)...); err != nil {
					return err
				}
			}
		}
	}
	for _, uid := range uids {
		f.marked[uid] = true
	}
	if len(extra) == 0 {
		for _, k := range keys {
			f.cuts[k] = true
		}
	}
	return nil
}

// restoreLocked appends rules to the chain in one iptables-restore
// transaction, leaving every other rule and chain as it is.
func (f *netFaults) restoreLocked(rules [][]string) error {
	var in bytes.Buffer
	in.WriteString("*filter\n")
	for _, r := range rules {
		fmt.Fprintf(&in, "-A %s %s\n", f.chain, strings.Join(r, " "))
	}
	in.WriteString("COMMIT\n")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "10", "--noflush")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &in, &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// heal removes every cut.
func (f *netFaults) heal() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.created {
		return nil
	}
	if _, err := iptables("-F", f.chain); err != nil {
		return err
	}
	clear(f.cuts)
	clear(f.marked)
	return nil
}

// remove deletes the chain and the jump to it.
func (f *netFaults) remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.created {
		return nil
	}
	var first error
	if _, err := iptables("-D", "OUTPUT", "-j", f.chain); err != nil {
		first = err
	}
	if _, err := iptables("-F", f.chain); err != nil && first == nil {
		first = err
	}
	if _, err := iptables("-X", f.chain); err != nil && first == nil {
		first = err
	}
	f.created = false
	clear(f.cuts)
	clear(f.marked)
	f.logf("cluster: removed iptables chain %s", f.chain)
	return first
}

// PartitionSupport returns nil when this machine lets a cluster cut links
// between its nodes (the test runs as root and iptables works), or an error
// wrapping ErrNoPartitions that says why not. Tests call it before they
// start a cluster they would only skip.
func PartitionSupport() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: partitions need root (iptables rules and one Unix user per node)", ErrNoPartitions)
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("%w: iptables not found: %v", ErrNoPartitions, err)
	}
	if _, err := iptables("-S", "OUTPUT"); err != nil {
		return fmt.Errorf("%w: iptables unusable: %v", ErrNoPartitions, err)
	}
	return nil
}

// CanPartition returns nil when Partition works here, or an error wrapping
// ErrNoPartitions that says why not.
func (c *Cluster) CanPartition() error {
	if c.net == nil {
		return fmt.Errorf("%w: %v", ErrNoPartitions, c.netErr)
	}
	return nil
}

// Partition cuts the network between every two nodes of different groups,
// both ways, by dropping packets to their raft and API ports. Nodes in no
// group keep their links, and so does gossip (memberlist) between all
// nodes. Clients of the test still reach every node. All the rules of one
// call take effect at once.
func (c *Cluster) Partition(groups ...[]*Node) error {
	if err := c.CanPartition(); err != nil {
		return err
	}
	var names []string
	for _, g := range groups {
		var ids []string
		for _, n := range g {
			ids = append(ids, n.ID)
		}
		names = append(names, strings.Join(ids, ","))
	}
	c.logf("cluster: partition %s", strings.Join(names, " | "))
	return c.net.partition(groups)
}

// PartitionRaft cuts the raft traffic between every two nodes of different
// groups, both ways, and leaves their API ports, gossip and the test's
// clients alone: replication and elections stop across the cut while
// requests between the nodes (forwarding, guard marks, leases) still flow.
// Heal ends it.
func (c *Cluster) PartitionRaft(groups ...[]*Node) error {
	if err := c.CanPartition(); err != nil {
		return err
	}
	c.logf("cluster: raft partition of %d groups", len(groups))
	return c.net.cut(groups, true)
}

// Lossy makes the links between every two nodes of different groups drop
// a random share loss (0 < loss < 1) of their packets, both ways: a bad
// network rather than a cut one (iptables' statistic match; this kernel
// has no tc netem). Heal ends it.
func (c *Cluster) Lossy(loss float64, groups ...[]*Node) error {
	if err := c.CanPartition(); err != nil {
		return err
	}
	if loss <= 0 || loss >= 1 {
		return fmt.Errorf("cluster: loss %v: want a share between 0 and 1", loss)
	}
	c.logf("cluster: %.0f%% packet loss between %d groups", loss*100, len(groups))
	return c.net.partition(groups, "-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(loss, 'f', 3, 64))
}

// Dropped counts the packets the cluster's DROP rules have dropped since
// they were added, so a fault test can show its fault bit.
func (c *Cluster) Dropped() (uint64, error) {
	if c.net == nil {
		return 0, c.CanPartition()
	}
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if !c.net.created {
		return 0, nil
	}
	out, err := iptables("-L", c.net.chain, "-v", "-x", "-n")
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "DROP" {
			if v, err := strconv.ParseUint(f[0], 10, 64); err == nil {
				n += v
			}
		}
	}
	return n, nil
}

// Isolate cuts n off from every other node.
func (c *Cluster) Isolate(n *Node) error {
	var others []*Node
	for _, m := range c.Nodes {
		if m != n {
			others = append(others, m)
		}
	}
	return c.Partition([]*Node{n}, others)
}

// Heal removes every partition.
func (c *Cluster) Heal() error {
	if c.net == nil {
		return nil
	}
	c.logf("cluster: heal the network")
	return c.net.heal()
}
