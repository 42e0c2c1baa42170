package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/zone"
)

// monoNow is the monotonic clock leases are measured with (clock.Mono):
// a wall-clock jump cannot stretch a lease.
func monoNow() int64 { return clock.Mono() }

// openClusterGroups opens the meta replica and every zone replica found on
// disk (a restart).
func (n *Node) openClusterGroups() error {
	layer, err := n.mux.Layer("meta")
	if err != nil {
		return err
	}
	n.metaFSM = fsm.NewMeta(n.log.With("group", "meta"))
	if n.meta, err = zone.OpenReplica(n.replicaConfig("meta", groupDir(n.cfg.DataDir, "meta"), layer), n.metaFSM); err != nil {
		layer.Close()
		return err
	}
	entries, err := os.ReadDir(filepath.Join(n.cfg.DataDir, "groups"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, e := range entries {
		z, ok := strings.CutPrefix(e.Name(), "zone-")
		if !ok || !e.IsDir() {
			continue
		}
		dir := filepath.Join(n.cfg.DataDir, "groups", e.Name())
		_, serr := os.Stat(filepath.Join(dir, storeMarker))
		if _, err := n.openZone(z, dir, z == n.cfg.Zone || serr == nil); err != nil {
			return err
		}
	}
	return nil
}

// startCluster joins gossip and starts the loops that keep this node's
// replicas, leases and shard ownership in line with the meta group.
func (n *Node) startCluster() error {
	gc := gossip.DefaultConfig()
	if n.cfg.GossipFast {
		gc = gossip.Fast()
	}
	gc.BindAddr = n.cfg.GossipAddr
	gc.AdvertiseAddr = n.cfg.GossipAdvertise
	gc.Seeds = n.cfg.GossipSeeds
	gc.Key = n.cfg.GossipKey
	if len(gc.Key) == 0 && n.certs != nil {
		gc.Key = n.certs.GossipKey
	}
	// gossip adds the node's id itself; n.log has it already.
	gc.Logger = n.cfg.Logger.With("node_zone", n.cfg.Zone, "part", "gossip")
	gc.Meta = gossip.Meta{NodeID: n.cfg.NodeID, Zone: n.cfg.Zone, HTTPAddr: n.cfg.httpAdvertise(),
		RaftAddr: n.cfg.raftAdvertise(), Roles: n.roles()}
	g, err := gossip.Start(gc)
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	n.gossip = g
	n.metrics.reg.MustRegister(g.Collectors()...)
	n.goLoop(n.leaseLoop)
	n.goLoop(n.convergeLoop)
	n.goLoop(n.guardLoop)
	n.goLoop(n.failoverLoop)
	n.goLoop(n.opsLoop)
	n.goLoop(n.sched.Run)
	return nil
}

// roles lists what this node hosts, for gossip.
func (n *Node) roles() []string {
	var roles []string
	for _, h := range n.hostedZones() {
		if h.voter {
			roles = append(roles, "voter:zone-"+h.zone)
		} else {
			roles = append(roles, "follower:zone-"+h.zone)
		}
	}
	if n.meta != nil && n.metaFSM != nil {
		if nd, ok := n.metaFSM.State().Node(n.cfg.NodeID); ok && nd.MetaVoter {
			roles = append(roles, "meta")
		}
	}
	return roles
}

// metaApply runs a meta command on the meta leader: here if this replica
// leads, else through the leader's internal endpoint.
func (n *Node) metaApply(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	if err := c.Validate(); err != nil {
		return fsm.MetaResult{}, err
	}
	if n.meta.IsLeader() {
		c.Time = clock.Now().UnixMilli()
		out, err := n.meta.Apply(fsm.EncodeMeta(c), n.cfg.ApplyTimeout)
		if err != nil {
			return fsm.MetaResult{}, err
		}
		res, _ := out.(fsm.MetaResult)
		return res, nil
	}
	_, id := n.meta.Raft().LeaderWithID()
	if id == "" {
		return fsm.MetaResult{}, fmt.Errorf("%w: meta group has no leader", ErrNoLeader)
	}
	addr := n.httpAddrOf(string(id))
	if addr == "" {
		addr = n.gossipHTTPAddr(string(id))
	}
	if addr == "" {
		return fsm.MetaResult{}, fmt.Errorf("%w: meta leader %s has no known address", ErrNoLeader, id)
	}
	var res fsm.MetaResult
	if err := n.postJSON(ctx, addr, "/v1/internal/meta", c, &res); err != nil {
		return fsm.MetaResult{}, err
	}
	return res, nil
}

// gossipHTTPAddr is a node's API address as gossip knows it.
func (n *Node) gossipHTTPAddr(id string) string {
	if n.gossip == nil {
		return ""
	}
	for _, m := range n.gossip.Members() {
		if m.NodeID == id {
			return m.HTTPAddr
		}
	}
	return ""
}

// handleInternalMeta applies a meta command forwarded by another node. The
// command is checked (fsm.MetaCmd.Validate) before it is proposed: a
// malformed one answers invalid_argument and changes nothing.
func (n *Node) handleInternalMeta(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, api.Errorf(api.CodeInvalidArgument, "not a cluster node"))
		return
	}
	var c fsm.MetaCmd
	if err := decodeLarge(r, &c); err != nil {
		writeError(w, err)
		return
	}
	if err := c.Validate(); err != nil {
		writeError(w, apiError(err))
		return
	}
	if c.Type == fsm.MetaSetNodeAddr {
		// No node proposes it; from outside it would redirect a node.
		writeError(w, api.Errorf(api.CodeInvalidArgument, "meta command %d is not forwarded between nodes", c.Type))
		return
	}
	if !n.meta.IsLeader() {
		writeError(w, api.Errorf(api.CodeUnavailable, "node %s does not lead the meta group", n.cfg.NodeID))
		return
	}
	res, err := n.metaApply(r.Context(), c)
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// postJSON posts v to addr+path and decodes the reply into out; an error
// reply becomes an *api.Error. A request that never left this node (the
// dial failed) is ErrNotApplied; any failure after it was sent (no reply, a
// reply cut short or unreadable, the context ending meanwhile) is
// ErrUnknownOutcome: the receiver may have applied it.
func (n *Node) postJSON(ctx context.Context, addr, path string, v, out any) error {
	body, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := n.peer.NewRequest(ctx, http.MethodPost, addr, path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.peer.Do(req)
	if err != nil {
		if notSent(err) {
			return errors.Join(ErrNotApplied, err)
		}
		return errors.Join(ErrUnknownOutcome, fmt.Errorf("%s%s: %w", addr, path, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return errors.Join(ErrUnknownOutcome, fmt.Errorf("%s%s: reply cut short: %w", addr, path, err))
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			return eb.Error
		}
		return fmt.Errorf("%s%s: %s", addr, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return errors.Join(ErrUnknownOutcome, fmt.Errorf("%s%s: decode reply: %w", addr, path, err))
	}
	return nil
}

// notSent reports whether a failed HTTP request provably never reached its
// receiver: the connection could not be made.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// leaseLoop renews the ownership lease of every group this node leads and
// serves writes for (zone.LeaseKeeper.RenewAll).
func (n *Node) leaseLoop() { n.every(n.cfg.LeaseRenew, n.leases.RenewAll) }

// convergeLoop converges this node's replicas on the meta group's state:
// follower replicas of the zones its zone backs up, non-voter members of
// the meta group and of its zone's followers (on the leaders), and the
// zone's shard ownership (on the zone leader).
func (n *Node) convergeLoop() { n.every(250*time.Millisecond, n.convergeOnce) }

func (n *Node) convergeOnce() {
	if err := n.converge(); err != nil {
		n.log.Debug("converge replicas", "err", err)
	}
}

// testHoldFollower, when set (tests), keeps a node from (re)opening its
// async follower of a zone.
var testHoldFollower atomic.Pointer[func(node, zone string) bool]

func (n *Node) converge() error {
	st := n.metaFSM.State()
	if !st.Initialized {
		return nil
	}
	n.updateGossip() // roles change with the meta state (meta voter) and hosted replicas
	my := n.cfg.Zone
	var errs []error
	// Follower replicas of the zones this zone backs up.
	for _, z := range st.Zones {
		if hold := testHoldFollower.Load(); hold != nil && (*hold)(n.cfg.NodeID, z.Name) {
			continue
		}
		if z.Backup == my && z.Name != my && n.hostedZone(z.Name) == nil {
			n.openMu.Lock()
			if n.hostedZone(z.Name) == nil {
				if _, err := n.openZone(z.Name, groupDir(n.cfg.DataDir, "zone/"+z.Name), false); err != nil {
					errs = append(errs, err)
				} else {
					n.log.Info("hosting an async follower", "zone", z.Name)
					n.updateGossip()
				}
			}
			n.openMu.Unlock()
		}
	}
	// The meta leader adds every other node as a non-voter.
	if n.meta.IsLeader() {
		if members, err := n.meta.Members(); err == nil {
			for _, nd := range st.Nodes {
				if !nd.MetaVoter && !hasServer(members, nd.ID) {
					errs = append(errs, n.meta.AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), false, n.cfg.ApplyTimeout))
				}
			}
		}
	}
	errs = append(errs, n.convergeStores(st))
	errs = append(errs, n.convergeLifecycle(st))
	h := n.ownZone()
	if h == nil || !h.rep.IsLeader() {
		return errors.Join(errs...)
	}
	// The zone leader adds the backup zone's nodes as async followers.
	if zi, ok := st.ZoneOf(my); ok && zi.Backup != "" && zi.Backup != my {
		if members, err := h.rep.Members(); err == nil {
			for _, nd := range st.Nodes {
				if nd.Zone == zi.Backup && !hasServer(members, nd.ID) {
					errs = append(errs, h.rep.AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), false, n.cfg.ApplyTimeout))
				}
			}
		}
	}
	errs = append(errs, n.syncShards(h, st))
	return errors.Join(errs...)
}

func hasServer(servers []raft.Server, id string) bool {
	return slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id })
}

// syncShards makes the zone's state machine own exactly the shards the
// route table gives it: it releases a shard that moves away (at the move's
// epoch) and takes one routed to it.
func (n *Node) syncShards(h *hosted, st fsm.MetaState) error {
	me := h.zone
	owned, sharded, err := h.fsm.Shards()
	if err != nil {
		return err
	}
	take := map[uint64][]byte{}
	release := map[uint64][]byte{}
	for s, r := range st.Shards {
		mine := r.Zone == me && r.Target == ""
		e, have := owned[s]
		switch {
		case mine && (!have || e < r.Epoch):
			take[r.Epoch] = append(take[r.Epoch], byte(s))
		case !mine && have && e <= r.Epoch:
			release[r.Epoch] = append(release[r.Epoch], byte(s))
		}
	}
	var cmds []fsm.Command
	for _, set := range []struct {
		m   map[uint64][]byte
		own bool
	}{{release, false}, {take, true}} {
		epochs := make([]uint64, 0, len(set.m))
		for e := range set.m {
			epochs = append(epochs, e)
		}
		sort.Slice(epochs, func(i, j int) bool { return epochs[i] < epochs[j] })
		for _, e := range epochs {
			cmds = append(cmds, fsm.Command{Type: fsm.CmdSetShards, Shards: set.m[e], Epoch: e, Own: set.own})
		}
	}
	if len(cmds) == 0 && !sharded {
		cmds = append(cmds, fsm.Command{Type: fsm.CmdSetShards, Epoch: st.Epoch, Own: true})
	}
	if len(cmds) > 0 {
		if _, err := n.apply(h, cmds...); err != nil {
			return fmt.Errorf("sync shards: %w", err)
		}
		n.log.Info("shard ownership synced with the route table", "epoch", st.Epoch, "commands", len(cmds))
	}
	h.ready.Store(true)
	return nil
}

// updateGossip re-broadcasts this node's gossip meta when its roles changed.
func (n *Node) updateGossip() {
	if n.gossip == nil {
		return
	}
	roles := n.roles()
	if slices.Equal(roles, n.gossip.LocalMeta().Roles) {
		return
	}
	m := gossip.Meta{NodeID: n.cfg.NodeID, Zone: n.cfg.Zone, HTTPAddr: n.cfg.httpAdvertise(), RaftAddr: n.cfg.raftAdvertise(), Roles: roles}
	if err := n.gossip.UpdateMeta(m); err != nil {
		n.log.Debug("gossip meta", "err", err)
	}
}

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
	p.nodes = pickMetaVoters(req.Zones, byZone)
	p.clusterID = newClusterID()
	return p, nil
}

// pickMetaVoters returns the nodes of byZone (each zone's sorted by id) in
// the order of zones, with the meta voters marked: round robin over the
// zones, three in all (fewer if fewer nodes).
func pickMetaVoters(zones []string, byZone map[string][]fsm.NodeInfo) []fsm.NodeInfo {
	picked := map[string]bool{}
	for round := 0; len(picked) < 3; round++ {
		added := false
		for _, z := range zones {
			if round < len(byZone[z]) && len(picked) < 3 {
				picked[byZone[z][round].ID] = true
				added = true
			}
		}
		if !added {
			break
		}
	}
	var nodes []fsm.NodeInfo
	for _, z := range zones {
		for _, nd := range byZone[z] {
			nd.MetaVoter = picked[nd.ID]
			nodes = append(nodes, nd)
		}
	}
	return nodes
}

// newClusterID makes a cluster's identity: 16 random hex digits.
func newClusterID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("server: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
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
			err = n.postJSON(ctx, nd.HTTPAddr, "/v1/internal/bootstrap", req, nil)
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

func servers(nodes []fsm.NodeInfo) []raft.Server {
	out := make([]raft.Server, 0, len(nodes))
	for _, nd := range nodes {
		out = append(out, raft.Server{ID: raft.ServerID(nd.ID), Address: raft.ServerAddress(nd.RaftAddr), Suffrage: raft.Voter})
	}
	return out
}

// bootstrap forms the groups this node votes in. Bootstrapping a group
// that already has state does nothing, so a repeated init is harmless.
func (n *Node) bootstrap(req bootstrapRequest) error {
	if slices.ContainsFunc(req.Meta, func(nd fsm.NodeInfo) bool { return nd.ID == n.cfg.NodeID }) {
		if err := n.meta.Bootstrap(servers(req.Meta)); err != nil {
			return err
		}
	}
	n.openMu.Lock()
	defer n.openMu.Unlock()
	h := n.ownZone()
	if h == nil {
		var err error
		if h, err = n.openZone(n.cfg.Zone, groupDir(n.cfg.DataDir, "zone/"+n.cfg.Zone), true); err != nil {
			return err
		}
	}
	if err := h.rep.Bootstrap(servers(req.Zone)); err != nil {
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

// getJSONFrom GETs addr+path into out; an error reply becomes an *api.Error.
func (n *Node) getJSONFrom(ctx context.Context, addr, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := n.peer.NewRequest(ctx, http.MethodGet, addr, path, nil)
	if err != nil {
		return err
	}
	resp, err := n.peer.Do(req)
	if err != nil {
		return api.Errorf(api.CodeUnavailable, "%v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			return eb.Error
		}
		return api.Errorf(api.CodeUnavailable, "%s%s: %s", addr, path, resp.Status)
	}
	return json.Unmarshal(data, out)
}

// decodeLarge decodes an internal request body of up to 16 MiB, refusing
// unknown fields and trailing data as api.Decode does for smaller bodies.
func decodeLarge(r *http.Request, v any) *api.Error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return api.Errorf(api.CodeInvalidArgument, "read body: %v", err)
	}
	if err := api.DecodeBytes(data, v); err != nil {
		return err.(*api.Error)
	}
	return nil
}
