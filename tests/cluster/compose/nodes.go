package compose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rzonedb/rzone/client"
)

// Ring is the zones of docker-compose.yml in ring order: each backs up the
// next.
var Ring = []string{"A", "B", "C"}

// Node is one node service of docker-compose.yml.
type Node struct {
	// ID is the service name and the node id (a1 … c3).
	ID string
	// Zone is the node's zone (A, B or C).
	Zone string
	// Host is the last octet of the node's fixed address on the project's
	// network (a1 .11 … c3 .33).
	Host int
}

// Nodes lists docker-compose.yml's nodes in zone order.
var Nodes = func() []Node {
	var out []Node
	for zi, z := range Ring {
		for i := 1; i <= 3; i++ {
			out = append(out, Node{ID: fmt.Sprintf("%s%d", strings.ToLower(z), i), Zone: z, Host: 10*(zi+1) + i})
		}
	}
	return out
}()

// InZone reports whether node is one of zone's nodes in docker-compose.yml
// (a1..a3 are zone A, and so on).
func InZone(node, zone string) bool {
	return len(node) == 2 && strings.EqualFold(node[:1], zone) && strings.Contains("123", node[1:])
}

// CheckZones reports the first way zl differs from a healthy 3 × 3
// cluster: zones A, B and C in ring order, each ready with a leader, a
// valid lease, 3 voters of its own zone, and at least one async follower,
// all on its backup zone's nodes; 100 shards spread over the zones.
func CheckZones(zl *client.ZoneList) error {
	if len(zl.Zones) != len(Ring) {
		return fmt.Errorf("%d zones, want %d", len(zl.Zones), len(Ring))
	}
	shards := map[int]string{}
	for i, want := range Ring {
		z := zl.Zones[i]
		backup := Ring[(i+1)%len(Ring)]
		switch {
		case z.Zone != want:
			return fmt.Errorf("zone %d is %q, want %q", i, z.Zone, want)
		case z.Backup != backup:
			return fmt.Errorf("zone %s: backup %q, want %q", z.Zone, z.Backup, backup)
		case z.Leader == "":
			return fmt.Errorf("zone %s has no leader", z.Zone)
		case !z.Ready:
			return fmt.Errorf("zone %s is not ready", z.Zone)
		case !z.LeaseValid:
			return fmt.Errorf("zone %s has no valid lease (until %q)", z.Zone, z.LeaseUntil)
		case len(z.Voters) != 3:
			return fmt.Errorf("zone %s has %d voters, want 3", z.Zone, len(z.Voters))
		case len(z.Followers) == 0:
			return fmt.Errorf("zone %s has no async follower", z.Zone)
		}
		leaders := 0
		for _, r := range z.Voters {
			if !r.Voter || !InZone(r.Node, z.Zone) {
				return fmt.Errorf("zone %s: voter %s (voter=%v) is not a voter of this zone", z.Zone, r.Node, r.Voter)
			}
			if r.State == "Leader" {
				leaders++
			}
		}
		if leaders != 1 {
			return fmt.Errorf("zone %s: %d voters say they lead", z.Zone, leaders)
		}
		for _, r := range z.Followers {
			if r.Voter || !InZone(r.Node, backup) || r.State != "Follower" {
				return fmt.Errorf("zone %s: async follower %s (voter=%v, state %s), want a non-voter on zone %s's nodes",
					z.Zone, r.Node, r.Voter, r.State, backup)
			}
		}
		for _, s := range z.Shards {
			if other, dup := shards[s]; dup {
				return fmt.Errorf("shard %d is in zones %s and %s", s, other, z.Zone)
			}
			shards[s] = z.Zone
		}
	}
	if len(shards) != 100 {
		return fmt.Errorf("the zones hold %d shards, want 100", len(shards))
	}
	return nil
}

// CaughtUp reports a replica, voter or async follower, whose state machine
// has not applied what its zone leader's has. It compares applied indexes
// rather than the reported lag_entries, which counts from the leader's last
// log index and so includes entries that never reach a state machine
// (configuration changes, no-ops, barriers).
func CaughtUp(zl *client.ZoneList) error {
	for _, z := range zl.Zones {
		var leader uint64
		for _, r := range z.Voters {
			if r.Node == z.Leader {
				leader = r.AppliedIndex
			}
		}
		for _, r := range append(slices.Clone(z.Voters), z.Followers...) {
			if r.AppliedIndex != leader {
				return fmt.Errorf("zone %s: %s applied %d, its leader %s %d (reported lag %d entries, last contact %s)",
					z.Zone, r.Node, r.AppliedIndex, z.Leader, leader, r.LagEntries, lastContact(r.LastContactMs))
			}
		}
	}
	return nil
}

// lastContact shows a replica's last contact with its leader.
func lastContact(ms *int64) string {
	if ms == nil {
		return "never"
	}
	return fmt.Sprintf("%dms", *ms)
}
