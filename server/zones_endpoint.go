package server

import (
	"context"
	"encoding/hex"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
)

// routeTable is the route table with each zone's leader, from this node's
// meta replica.
func (n *Node) routeTable() api.RouteTable {
	st := n.metaFSM.State()
	rt := api.RouteTable{Epoch: st.Epoch}
	for i, s := range st.Shards {
		rt.Shards = append(rt.Shards, api.ShardRoute{Shard: i, Zone: s.Zone, Epoch: s.Epoch, Target: s.Target})
	}
	for _, z := range st.Zones {
		zr := api.ZoneRoute{Zone: z.Name, Backup: z.Backup}
		if addr, ok := n.zoneLeaderNow(z.Name); ok {
			if addr == "" {
				addr = n.cfg.httpAdvertise()
			}
			zr.LeaderHTTP = addr
		}
		if l, ok := st.Lease(z.Name); ok {
			zr.Leader = l.Holder
		}
		if h := n.hostedZone(z.Name); h != nil {
			if _, id := h.rep.Raft().LeaderWithID(); id != "" {
				zr.Leader = string(id)
				zr.LeaderHTTP = n.httpAddrOf(string(id))
			}
		}
		for _, nd := range st.Nodes {
			if nd.Zone == z.Name {
				zr.Nodes = append(zr.Nodes, nd.HTTPAddr)
			}
		}
		rt.Zones = append(rt.Zones, zr)
	}
	// A failover store serves a failed-over zone's shards from the backup
	// zone's nodes.
	for _, z := range st.Zones {
		if z.Failover == nil {
			continue
		}
		g := z.Failover.Group
		if _, live := st.StoreOf(g); !live {
			continue
		}
		zr := api.ZoneRoute{Zone: g}
		if addr, ok := n.zoneLeaderNow(g); ok {
			if addr == "" {
				addr = n.cfg.httpAdvertise()
			}
			zr.LeaderHTTP = addr
		}
		if l, ok := st.Lease(g); ok {
			zr.Leader = l.Holder
		}
		for _, nd := range st.Nodes {
			if nd.Zone == z.Backup {
				zr.Nodes = append(zr.Nodes, nd.HTTPAddr)
			}
		}
		rt.Zones = append(rt.Zones, zr)
	}
	return rt
}

func (n *Node) handleRoutes(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeJSON(w, http.StatusOK, n.standaloneRoutes())
		return
	}
	if e := n.waitAfter(r); e != nil {
		writeError(w, e)
		return
	}
	if !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	writeJSON(w, http.StatusOK, n.routeTable())
}

// standaloneRoutes describes a standalone zone: it owns every shard.
func (n *Node) standaloneRoutes() api.RouteTable {
	rt := api.RouteTable{Epoch: 1}
	for i := 0; i < 100; i++ {
		rt.Shards = append(rt.Shards, api.ShardRoute{Shard: i, Zone: n.cfg.Zone, Epoch: 1})
	}
	zr := api.ZoneRoute{Zone: n.cfg.Zone}
	if h := n.ownZone(); h != nil {
		if _, id := h.rep.Raft().LeaderWithID(); id != "" {
			zr.Leader, zr.LeaderHTTP = string(id), n.httpAddrOf(string(id))
		}
		if servers, err := h.rep.Members(); err == nil {
			for _, s := range servers {
				if a := n.httpAddrOf(string(s.ID)); a != "" {
					zr.Nodes = append(zr.Nodes, a)
				}
			}
		}
	}
	rt.Zones = []api.ZoneRoute{zr}
	return rt
}

// localReplicas reports every replica this node hosts.
func (n *Node) localReplicas() []api.ReplicaState {
	var out []api.ReplicaState
	add := func(group string, rf *raft.Raft, applied uint64, voter, ready bool) {
		rs := api.ReplicaState{Node: n.cfg.NodeID, HTTPAddr: n.cfg.httpAdvertise(), Group: group, State: rf.State().String(),
			Voter: voter, AppliedIndex: applied, CommitIndex: rf.CommitIndex(), LastIndex: rf.LastIndex(),
			Term: rf.CurrentTerm(), Ready: ready}
		if rf.State() == raft.Leader {
			rs.LastContactMs = new(int64)
		} else if lc := rf.LastContact(); !lc.IsZero() {
			ms := time.Since(lc).Milliseconds()
			rs.LastContactMs = &ms
		}
		out = append(out, rs)
	}
	for _, h := range n.hostedZones() {
		add("zone/"+h.zone, h.rep.Raft(), h.fsm.AppliedIndex(), h.voter, h.isReady())
		if h.store {
			if fi, err := h.fsm.Failover(); err == nil && fi != nil {
				out[len(out)-1].FailoverPayments, out[len(out)-1].FailoverAmount = fi.Payments, fi.Amount
			}
		}
	}
	if n.meta != nil {
		add("meta", n.meta.Raft(), n.metaFSM.AppliedIndex(), false, true)
	}
	return out
}

// handleInternalReplicas serves this node's replicas; with ?digest=1 each
// comes with its state digest and the applied index the digest was read at
// (a scan of the whole state: for fault tests and operators comparing
// replicas, not for the zone status's polls).
func (n *Node) handleInternalReplicas(w http.ResponseWriter, r *http.Request) {
	rs := n.localReplicas()
	if r.URL.Query().Get("digest") == "1" {
		n.addDigests(rs)
	}
	writeJSON(w, http.StatusOK, rs)
}

// addDigests fills in the state digest of each of this node's replicas in
// rs, and sets its applied index to the one the digest was read at.
func (n *Node) addDigests(rs []api.ReplicaState) {
	hosted := map[string]*hosted{}
	for _, h := range n.hostedZones() {
		hosted["zone/"+h.zone] = h
	}
	for i := range rs {
		var applied uint64
		var sum [32]byte
		var err error
		switch h := hosted[rs[i].Group]; {
		case h != nil:
			applied, sum, err = h.fsm.Digest()
		case rs[i].Group == "meta" && n.metaFSM != nil:
			applied, sum, err = n.metaFSM.Digest()
		default:
			continue
		}
		if err != nil {
			n.log.Warn("state digest", "group", rs[i].Group, "err", err)
			continue
		}
		rs[i].AppliedIndex, rs[i].Digest = applied, hex.EncodeToString(sum[:])
	}
}

// gatherReplicas asks every node of the cluster for its replicas, in
// parallel, with a short timeout; a node that does not answer is absent.
func (n *Node) gatherReplicas(ctx context.Context) map[string][]api.ReplicaState {
	return n.askReplicas(ctx, n.metaFSM.State().Nodes)
}

// askReplicas asks nodes for their replicas, in parallel, with a short
// timeout; a node that does not answer is absent.
func (n *Node) askReplicas(ctx context.Context, nodes []fsm.NodeInfo) map[string][]api.ReplicaState {
	out := map[string][]api.ReplicaState{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, nd := range nodes {
		if nd.ID == n.cfg.NodeID {
			local := n.localReplicas()
			mu.Lock() // the answers of nodes asked before are being written
			out[nd.ID] = local
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func(id, addr string) {
			defer wg.Done()
			var rs []api.ReplicaState
			if n.peer.GetJSON(ctx, addr, "/v1/internal/replicas", &rs, peer.Timeout(700*time.Millisecond)) == nil {
				mu.Lock()
				out[id] = rs
				mu.Unlock()
				n.remember(id, rs)
			}
		}(nd.ID, nd.HTTPAddr)
	}
	wg.Wait()
	return out
}

// zoneStatuses builds the status of every zone from the meta state and the
// replicas the nodes report.
func (n *Node) zoneStatuses(ctx context.Context) api.ZoneList {
	st := n.metaFSM.State()
	reps := n.gatherReplicas(ctx)
	list := api.ZoneList{Epoch: st.Epoch}
	for _, z := range st.Zones {
		zs := api.ZoneStatus{Zone: z.Name, Backup: z.Backup, Epoch: st.Epoch, Phase: z.ShownPhase(), Shards: []int{}, GuardGap: z.GuardGap}
		if f := z.Failover; f != nil {
			zs.Failover = failoverStatus(f, reps)
			for i, s := range st.Shards {
				if s.Zone == f.Group && z.PhaseOf() != fsm.PhaseNormal {
					zs.Shards = append(zs.Shards, i)
				}
			}
		}
		for i, s := range st.Shards {
			if s.Zone == z.Name {
				zs.Shards = append(zs.Shards, i)
			}
		}
		if l, ok := st.Lease(z.Name); ok {
			until := time.UnixMilli(l.Until)
			zs.LeaseUntil = until.UTC().Format(time.RFC3339Nano)
			zs.LeaseValid = time.Now().Before(until)
			zs.Leader = l.Holder
		}
		group := "zone/" + z.Name
		var all []api.ReplicaState
		var leaderApplied uint64
		for _, nd := range st.Nodes {
			found := false
			for _, rs := range reps[nd.ID] {
				if rs.Group == group {
					all = append(all, rs)
					found = true
				}
			}
			if !found && (nd.Zone == z.Name || nd.Zone == z.Backup) {
				// Report what was last heard from it, so its lag keeps growing.
				rs := api.ReplicaState{Node: nd.ID, HTTPAddr: nd.HTTPAddr, Group: group, Voter: nd.Zone == z.Name}
				if last, ok := n.lastSeen(nd.ID, group); ok {
					rs = last
				}
				rs.State = "unreachable"
				all = append(all, rs)
			}
		}
		for _, rs := range all {
			if rs.State == raft.Leader.String() {
				zs.Leader, zs.LastIndex, zs.Term, zs.Ready = rs.Node, rs.LastIndex, rs.Term, rs.Ready
				leaderApplied = rs.AppliedIndex
			}
		}
		for _, rs := range all {
			// Lag counts state-machine entries: no-ops and configuration
			// changes never reach a state machine, so the leader's applied
			// index, not its last index, is the mark.
			if leaderApplied > rs.AppliedIndex {
				rs.LagEntries = leaderApplied - rs.AppliedIndex
			}
			if rs.Voter {
				zs.Voters = append(zs.Voters, rs)
			} else {
				zs.Followers = append(zs.Followers, rs)
			}
		}
		sort.Slice(zs.Voters, func(i, j int) bool { return zs.Voters[i].Node < zs.Voters[j].Node })
		sort.Slice(zs.Followers, func(i, j int) bool { return zs.Followers[i].Node < zs.Followers[j].Node })
		list.Zones = append(list.Zones, zs)
	}
	return list
}

func failoverStatus(f *fsm.FailoverState, reps map[string][]api.ReplicaState) *api.ZoneFailover {
	at := func(ms int64) string {
		if ms == 0 {
			return ""
		}
		return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
	}
	out := &api.ZoneFailover{Store: f.Group, Seed: f.Seed, Auto: f.Auto, Started: at(f.Started), LeaseUntil: at(f.LeaseUntil),
		Promoted: at(f.Promoted), Recovering: at(f.Recovering), Recovered: at(f.Recovered), Blacklist: len(f.Blacklist), Report: f.Report,
		Isolated: f.Blacklist[:min(len(f.Blacklist), 1000)]}
	if f.Report != nil {
		out.Voided = len(f.Report.Voided)
	}
	for _, rs := range reps {
		for _, r := range rs {
			if r.Group == "zone/"+f.Group && r.State == raft.Leader.String() {
				out.Payments, out.Amount = r.FailoverPayments, r.FailoverAmount
			}
		}
	}
	return out
}

func (n *Node) handleZones(w http.ResponseWriter, r *http.Request) {
	if e := n.waitAfter(r); e != nil {
		writeError(w, e)
		return
	}
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	writeJSON(w, http.StatusOK, n.zoneStatuses(r.Context()))
}

func (n *Node) handleZone(w http.ResponseWriter, r *http.Request) {
	if e := n.waitAfter(r); e != nil {
		writeError(w, e)
		return
	}
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	name := r.PathValue("zone")
	for _, z := range n.zoneStatuses(r.Context()).Zones {
		if z.Zone == name {
			writeJSON(w, http.StatusOK, z)
			return
		}
	}
	writeError(w, api.Errorf(api.CodeNotFound, "no zone %q", name))
}

func (n *Node) handleMembers(w http.ResponseWriter, r *http.Request) {
	if n.gossip == nil {
		writeError(w, api.Errorf(api.CodeNotFound, "this node runs a standalone zone without gossip"))
		return
	}
	out := api.MemberList{DetectionTimeMs: n.gossip.DetectionTime().Milliseconds()}
	for _, m := range n.gossip.Members() {
		out.Members = append(out.Members, api.MemberInfo{ID: m.NodeID, Zone: m.Zone, Roles: m.Roles, HTTPAddr: m.HTTPAddr,
			RaftAddr: m.RaftAddr, Gossip: m.Addr, Capacity: m.Capacity, State: string(m.State), Since: m.Since.UTC().Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, out)
}

// remember keeps the last replica states each node reported, so a node
// that stops answering is shown with its last known applied index.
func (n *Node) remember(node string, rs []api.ReplicaState) {
	n.seenMu.Lock()
	defer n.seenMu.Unlock()
	if n.seen == nil {
		n.seen = map[string]api.ReplicaState{}
	}
	for _, r := range rs {
		n.seen[node+"/"+r.Group] = r
	}
}

func (n *Node) lastSeen(node, group string) (api.ReplicaState, bool) {
	n.seenMu.Lock()
	defer n.seenMu.Unlock()
	r, ok := n.seen[node+"/"+group]
	return r, ok
}
