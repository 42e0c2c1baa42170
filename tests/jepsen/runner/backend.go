package runner

import (
	"context"
	"errors"
	"github.com/rzonedb/rzone/client"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/jepsen/nemesis"
	"github.com/rzonedb/rzone/tests/jepsen/workload"
)

// Backends that run the cluster under test.
const (
	// BackendLocal runs rzone processes on loopback addresses of this
	// machine (tests/cluster).
	BackendLocal = "local"
	// BackendDocker runs docker-compose.yml's 3 zones × 3 nodes under a
	// compose project of its own (tests/cluster/compose).
	BackendDocker = "docker"
)

// target is the cluster under test as a run sees it, whichever backend
// runs it.
type target interface {
	// Nodes lists the nodes as the clients see them, in a fixed order.
	Nodes() []workload.Node
	// MultiZone reports whether the cluster has zones.
	MultiZone() bool
	// Routes reads the route table from a node that is up.
	Routes(ctx context.Context) (*api.RouteTable, error)
	// HTTPAddrs lists addresses the runner's admin client may use.
	HTTPAddrs() []string
	// Security is what a client needs to reach the cluster (CA, admin
	// token), nil for an open cluster.
	Security() *cluster.Security
	// Client is a client library client of the cluster's nodes, secured
	// as the cluster is, with opts after the security options.
	Client(opts ...client.Option) (*client.Client, error)
	// CanPartition says why partitions cannot be made, nil if they can.
	CanPartition() error
	// Nemesis is the cluster as the nemesis drives it.
	Nemesis() nemesis.Cluster
	// HealAll undoes every fault still in place.
	HealAll(ctx context.Context) error
	// WaitHealthy waits until every node is back and ready.
	WaitHealthy(ctx context.Context) error
	// WaitQuiescent waits until the applied indexes agree and stay put for
	// stable, and returns them (summed over the zones).
	WaitQuiescent(ctx context.Context, stable time.Duration) (uint64, error)
	// Close stops the cluster and removes what the run made; it is safe
	// to call more than once.
	Close() error
}

// errNoNodeUp is returned by a local target's Routes when no node runs
// unpaused.
var errNoNodeUp = errors.New("runner: no node is up to read the route table")

// local is a target of real processes on this machine. With replies set,
// the workloads' clients reach the nodes through reply proxies, which the
// lost-reply fault drives.
type local struct {
	*cluster.Cluster
	replies *replyProxies
	proxied []workload.Node
}

var _ target = local{}

func (l local) Nodes() []workload.Node {
	if l.proxied != nil {
		return l.proxied
	}
	var out []workload.Node
	for _, n := range l.Cluster.Nodes {
		out = append(out, workload.Node{ID: n.ID, Zone: n.Zone, API: n.API()})
	}
	return out
}

func (l local) Routes(ctx context.Context) (*api.RouteTable, error) {
	n := l.Up()
	if n == nil {
		return nil, errNoNodeUp
	}
	return n.Routes(ctx)
}

func (l local) Nemesis() nemesis.Cluster {
	if l.replies != nil {
		return nemesis.ForClusterWithReplies(l.Cluster, l.replies)
	}
	return nemesis.ForCluster(l.Cluster)
}

func (l local) Close() error {
	if l.replies != nil {
		l.replies.Close()
	}
	return l.Cluster.Close()
}
