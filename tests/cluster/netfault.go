package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// netFaults owns one iptables chain, RZONE-<id>, jumped to from OUTPUT. A cut
// between nodes a and b is a pair of DROP rules per direction: packets owned
// by a's Unix user to b's raft and HTTP ports, and the converse. Traffic of
// the test's own clients (another user) is never dropped.
type netFaults struct {
	chain string
	logf  func(string, ...any)

	mu      sync.Mutex
	created bool
	cuts    map[[2]string]bool // node id pairs (ordered) currently cut
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
	return &netFaults{chain: fmt.Sprintf("RZONE-%04x", id), logf: logf, cuts: map[[2]string]bool{}}, nil
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

// cut drops what from's user sends to to's raft and HTTP ports.
func (f *netFaults) cutLocked(from, to *Node) error {
	k := [2]string{from.ID, to.ID}
	if f.cuts[k] {
		return nil
	}
	for _, addr := range []string{to.RaftAddr, to.HTTPAddr} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("cut %s→%s: %w", from.ID, to.ID, err)
		}
		if _, err := iptables("-A", f.chain, "-p", "tcp", "-m", "owner", "--uid-owner", strconv.Itoa(from.UID),
			"-d", host, "--dport", port, "-j", "DROP"); err != nil {
			return err
		}
	}
	f.cuts[k] = true
	return nil
}

// partition cuts every pair of nodes in different groups, both ways.
func (f *netFaults) partition(groups [][]*Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.ensureChainLocked(); err != nil {
		return err
	}
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					if err := f.cutLocked(a, b); err != nil {
						return err
					}
				}
			}
		}
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
	f.logf("cluster: removed iptables chain %s", f.chain)
	return first
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
// both ways, by dropping packets. Nodes in no group keep their links.
// Clients of the test still reach every node.
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
