package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/auth"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/internal/layout"
)

// InitRequest is the body of POST /v1/cluster/init.
type InitRequest struct {
	// Zones to create, in ring order: each zone's backup is the next one.
	Zones []string `json:"zones"`
	// Nodes, if given, is the node list; else it comes from gossip.
	Nodes []fsm.NodeInfo `json:"nodes,omitempty"`
	// ExpectNodes, if set, is how many live nodes gossip must show before
	// the cluster is created; with fewer the init is refused as unavailable
	// (retry), so a slow node is not left out of its zone for good.
	ExpectNodes int `json:"expect_nodes,omitempty"`
}

// BootstrapRequest tells a node which groups to form (the body of POST
// /v1/internal/bootstrap).
type BootstrapRequest struct {
	Meta []fsm.NodeInfo `json:"meta"` // meta voters; bootstrap if this node is one
	Zone []fsm.NodeInfo `json:"zone"` // voters of this node's zone
}

// ErrTooFewNodes is PlanInit's refusal while gossip shows fewer live nodes
// than the request expects.
var ErrTooFewNodes = errors.New("too few nodes")

// ZoneNames lists the names of zones, in their order.
func ZoneNames(zones []fsm.ZoneInfo) []string {
	names := make([]string, len(zones))
	for i, z := range zones {
		names[i] = z.Name
	}
	return names
}

// SameSet reports whether a and b hold the same strings, in any order.
func SameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// Plan is a cluster's init: its zones, its nodes (the meta voters among
// them) and its first admin token.
type Plan struct {
	Zones []fsm.ZoneInfo
	Nodes []fsm.NodeInfo
	// Token is the first admin token, created with the init (secure
	// clusters); the caller sets it.
	Token *fsm.Token
	// ClusterID is the new cluster's identity.
	ClusterID string
}

// PlanInit plans the init req asks for. Without the request's node list
// it takes the live members that members (gossip's) lists.
func PlanInit(req InitRequest, members func() []gossip.Member) (Plan, error) {
	if len(req.Zones) == 0 {
		return Plan{}, errors.New("zones are required")
	}
	nodes := req.Nodes
	if len(nodes) == 0 {
		for _, m := range members() {
			if m.State == gossip.StateAlive {
				nodes = append(nodes, fsm.NodeInfo{ID: m.NodeID, Zone: m.Zone, HTTPAddr: m.HTTPAddr, RaftAddr: m.RaftAddr})
			}
		}
	}
	if req.ExpectNodes > 0 && len(nodes) < req.ExpectNodes {
		return Plan{}, fmt.Errorf("%w: gossip shows %d live nodes, waiting for %d", ErrTooFewNodes, len(nodes), req.ExpectNodes)
	}
	byZone := map[string][]fsm.NodeInfo{}
	for _, nd := range nodes {
		if !slices.Contains(req.Zones, nd.Zone) {
			return Plan{}, fmt.Errorf("node %s is in zone %q, which is not among %v", nd.ID, nd.Zone, req.Zones)
		}
		byZone[nd.Zone] = append(byZone[nd.Zone], nd)
	}
	var p Plan
	for i, z := range req.Zones {
		if len(byZone[z]) == 0 {
			return Plan{}, fmt.Errorf("zone %s has no live node", z)
		}
		sort.Slice(byZone[z], func(a, b int) bool { return byZone[z][a].ID < byZone[z][b].ID })
		backup := ""
		if len(req.Zones) > 1 {
			backup = req.Zones[(i+1)%len(req.Zones)]
		}
		p.Zones = append(p.Zones, fsm.ZoneInfo{Name: z, Backup: backup})
	}
	p.Nodes = layout.MetaVoters(req.Zones, byZone)
	p.ClusterID = layout.NewClusterID()
	return p, nil
}

// Init creates the cluster req asks for, planned by PlanInit over
// members (gossip's); on a secure node (secure) it comes with the
// cluster's first admin token, "init". Once the meta group is initialized
// it answers it again if req names the same zones, and refuses it with
// api.CodeClusterExists if not. It answers the route table with the
// init's operation and, if this call made the token and the meta group
// holds it, its secret. Its errors are *api.Error or the node's.
func (m *Member) Init(ctx context.Context, req InitRequest, members func() []gossip.Member, secure bool) (api.RouteTable, error) {
	if st := m.host.MetaFSM().State(); st.Initialized {
		if have := ZoneNames(st.Zones); !SameSet(have, req.Zones) {
			return api.RouteTable{}, api.Errorf(api.CodeClusterExists, "the cluster is already initialized with zones %v, not %v", have, req.Zones)
		}
		rt := m.RouteTable()
		rt.Operation = InitOp(st)
		return rt, nil
	}
	plan, err := PlanInit(req, members)
	if errors.Is(err, ErrTooFewNodes) {
		return api.RouteTable{}, api.Errorf(api.CodeUnavailable, "%v", err)
	}
	if err != nil {
		return api.RouteTable{}, api.Errorf(api.CodeInvalidArgument, "%v", err)
	}
	// Check the meta command the init ends with before any node
	// bootstraps a group for it.
	var secret string
	if secure {
		t, tok := auth.Record(api.CreateTokenRequest{Role: fsm.RoleAdmin, Name: "init"}, time.Now())
		plan.Token, secret = &t, tok
	}
	init := fsm.MetaCmd{Type: fsm.MetaInit, Zones: plan.Zones, Nodes: plan.Nodes, Token: plan.Token}
	if err := init.Validate(); err != nil {
		return api.RouteTable{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	op, err := m.RunInit(ctx, plan)
	if err != nil {
		return api.RouteTable{}, err
	}
	rt := m.RouteTable()
	rt.Operation = op
	if plan.Token != nil {
		if _, ok := m.host.MetaFSM().Token(plan.Token.ID); ok {
			rt.AdminToken = secret
		}
	}
	return rt, nil
}

// RunInit bootstraps the groups of every node of p and applies the init,
// which records the cluster_init operation; it returns that operation.
func (m *Member) RunInit(ctx context.Context, p Plan) (*api.Operation, error) {
	var meta []fsm.NodeInfo
	for _, nd := range p.Nodes {
		if nd.MetaVoter {
			meta = append(meta, nd)
		}
	}
	for _, nd := range p.Nodes {
		var zoneVoters []fsm.NodeInfo
		for _, o := range p.Nodes {
			if o.Zone == nd.Zone {
				zoneVoters = append(zoneVoters, o)
			}
		}
		req := BootstrapRequest{Meta: meta, Zone: zoneVoters}
		var err error
		if nd.ID == m.cfg.NodeID {
			err = m.Bootstrap(req)
		} else {
			err = m.cfg.Peer.PostJSON(ctx, nd.HTTPAddr, "/v1/internal/bootstrap", req, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("bootstrap node %s: %w", nd.ID, err)
		}
	}
	opID := NewOpID()
	for {
		res, err := m.Apply(ctx, fsm.MetaCmd{Type: fsm.MetaInit, Zones: p.Zones, Nodes: p.Nodes, Token: p.Token, ClusterID: p.ClusterID, OpID: opID})
		if err == nil {
			if res.Err != "" && !strings.Contains(res.Err, "already initialized") {
				return nil, api.Errorf(api.CodeInvalidArgument, "%s", res.Err)
			}
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("meta group did not accept the init: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Wait until this node's meta replica has applied the init.
	for !m.host.MetaFSM().State().Initialized {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return InitOp(m.host.MetaFSM().State()), nil
}

// InitOp is the cluster_init operation the init recorded, nil if none.
func InitOp(st fsm.MetaState) *api.Operation {
	for _, o := range st.Ops {
		if o.Kind == fsm.OpClusterInit {
			ao := APIOp(o)
			return &ao
		}
	}
	return nil
}

// Bootstrap forms the groups this node votes in. Bootstrapping a group
// that already has state does nothing, so a repeated init is harmless.
func (m *Member) Bootstrap(req BootstrapRequest) error {
	if slices.ContainsFunc(req.Meta, func(nd fsm.NodeInfo) bool { return nd.ID == m.cfg.NodeID }) {
		if err := m.host.MetaReplica().Bootstrap(layout.Voters(req.Meta)); err != nil {
			return err
		}
	}
	return m.host.BootstrapZone(layout.Voters(req.Zone))
}
