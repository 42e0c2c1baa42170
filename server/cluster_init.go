package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
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

// bootstrapRequest tells a node which groups to form.
type bootstrapRequest struct {
	Meta []fsm.NodeInfo `json:"meta"` // meta voters; bootstrap if this node is one
	Zone []fsm.NodeInfo `json:"zone"` // voters of this node's zone
}

// handleClusterInit creates the cluster: it picks the meta voters (one node
// per zone, round robin, three in all), asks every node to bootstrap its
// groups, then writes the zones, nodes and route table into the meta group.
// It is idempotent: once the meta group is initialized it returns it.
func (n *Node) handleClusterInit(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "this node runs a standalone zone (started with --bootstrap/--join)"))
		return
	}
	var req InitRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if st := n.metaFSM.State(); st.Initialized {
		if have := zoneNames(st.Zones); !sameSet(have, req.Zones) {
			writeError(w, api.Errorf(api.CodeClusterExists, "the cluster is already initialized with zones %v, not %v", have, req.Zones))
			return
		}
		rt := n.routeTable()
		rt.Operation = initOp(st)
		writeJSON(w, http.StatusOK, rt)
		return
	}
	plan, err := n.planInit(req)
	if errors.Is(err, errTooFewNodes) {
		writeError(w, api.Errorf(api.CodeUnavailable, "%v", err))
		return
	}
	if err != nil {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "%v", err))
		return
	}
	// Check the meta command the init ends with before any node
	// bootstraps a group for it.
	var secret string
	if n.certs != nil {
		id, hash, tok := newToken()
		plan.token, secret = &fsm.Token{ID: id, Role: fsm.RoleAdmin, Name: "init", Hash: hash}, tok
	}
	init := fsm.MetaCmd{Type: fsm.MetaInit, Zones: plan.zones, Nodes: plan.nodes, Token: plan.token}
	if err := init.Validate(); err != nil {
		writeError(w, apiError(err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	op, err := n.runInit(ctx, plan)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	rt := n.routeTable()
	rt.Operation = op
	if plan.token != nil {
		if _, ok := n.metaFSM.Token(plan.token.ID); ok {
			rt.AdminToken = secret
		}
	}
	writeJSON(w, http.StatusOK, rt)
}

var errTooFewNodes = errors.New("too few nodes")

// zoneNames lists the names of zones, in their order.
func zoneNames(zones []fsm.ZoneInfo) []string {
	names := make([]string, len(zones))
	for i, z := range zones {
		names[i] = z.Name
	}
	return names
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

type initPlan struct {
	zones []fsm.ZoneInfo
	nodes []fsm.NodeInfo
	// token is the first admin token, created with the init (secure
	// clusters).
	token *fsm.Token
	// clusterID is the new cluster's identity.
	clusterID string
}

func (n *Node) planInit(req InitRequest) (initPlan, error) {
	if len(req.Zones) == 0 {
		return initPlan{}, errors.New("zones are required")
	}
	nodes := req.Nodes
	if len(nodes) == 0 {
		for _, m := range n.gossip.Members() {
			if m.State == gossip.StateAlive {
				nodes = append(nodes, fsm.NodeInfo{ID: m.NodeID, Zone: m.Zone, HTTPAddr: m.HTTPAddr, RaftAddr: m.RaftAddr})
			}
		}
	}
	if req.ExpectNodes > 0 && len(nodes) < req.ExpectNodes {
		return initPlan{}, fmt.Errorf("%w: gossip shows %d live nodes, waiting for %d", errTooFewNodes, len(nodes), req.ExpectNodes)
	}
	byZone := map[string][]fsm.NodeInfo{}
	for _, nd := range nodes {
		if !slices.Contains(req.Zones, nd.Zone) {
			return initPlan{}, fmt.Errorf("node %s is in zone %q, which is not among %v", nd.ID, nd.Zone, req.Zones)
		}
		byZone[nd.Zone] = append(byZone[nd.Zone], nd)
	}
	var p initPlan
	for i, z := range req.Zones {
		if len(byZone[z]) == 0 {
			return initPlan{}, fmt.Errorf("zone %s has no live node", z)
		}
		sort.Slice(byZone[z], func(a, b int) bool { return byZone[z][a].ID < byZone[z][b].ID })
		backup := ""
		if len(req.Zones) > 1 {
			backup = req.Zones[(i+1)%len(req.Zones)]
		}
		p.zones = append(p.zones, fsm.ZoneInfo{Name: z, Backup: backup})
	}
	p.nodes = layout.MetaVoters(req.Zones, byZone)
	p.clusterID = layout.NewClusterID()
	return p, nil
}

// runInit bootstraps the groups and applies the init, which records the
// cluster_init operation; it returns that operation.
func (n *Node) runInit(ctx context.Context, p initPlan) (*api.Operation, error) {
	var meta []fsm.NodeInfo
	for _, nd := range p.nodes {
		if nd.MetaVoter {
			meta = append(meta, nd)
		}
	}
	for _, nd := range p.nodes {
		var zoneVoters []fsm.NodeInfo
		for _, o := range p.nodes {
			if o.Zone == nd.Zone {
				zoneVoters = append(zoneVoters, o)
			}
		}
		req := bootstrapRequest{Meta: meta, Zone: zoneVoters}
		var err error
		if nd.ID == n.cfg.NodeID {
			err = n.bootstrap(req)
		} else {
			err = n.peer.PostJSON(ctx, nd.HTTPAddr, "/v1/internal/bootstrap", req, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("bootstrap node %s: %w", nd.ID, err)
		}
	}
	opID := newOpID()
	for {
		res, err := n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaInit, Zones: p.zones, Nodes: p.nodes, Token: p.token, ClusterID: p.clusterID, OpID: opID})
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
	for !n.metaFSM.State().Initialized {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return initOp(n.metaFSM.State()), nil
}

// initOp is the cluster_init operation the init recorded, nil if none.
func initOp(st fsm.MetaState) *api.Operation {
	for _, o := range st.Ops {
		if o.Kind == fsm.OpClusterInit {
			ao := apiOp(o)
			return &ao
		}
	}
	return nil
}

// bootstrap forms the groups this node votes in. Bootstrapping a group
// that already has state does nothing, so a repeated init is harmless.
func (n *Node) bootstrap(req bootstrapRequest) error {
	if slices.ContainsFunc(req.Meta, func(nd fsm.NodeInfo) bool { return nd.ID == n.cfg.NodeID }) {
		if err := n.meta.Bootstrap(layout.Voters(req.Meta)); err != nil {
			return err
		}
	}
	n.openMu.Lock()
	defer n.openMu.Unlock()
	h := n.ownZone()
	if h == nil {
		var err error
		if h, err = n.openZone(n.cfg.Zone, layout.GroupDir(n.cfg.DataDir, "zone/"+n.cfg.Zone), true); err != nil {
			return err
		}
	}
	if err := h.rep.Bootstrap(layout.Voters(req.Zone)); err != nil {
		return err
	}
	n.updateGossip()
	return nil
}

func (n *Node) handleInternalBootstrap(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "not a cluster node"))
		return
	}
	var req bootstrapRequest
	if err := api.Decode(r.Body, &req); err != nil {
		writeError(w, err.(*api.Error))
		return
	}
	if err := n.bootstrap(req); err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"bootstrapped": n.cfg.NodeID})
}
