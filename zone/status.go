package zone

import (
	"context"
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// The zone status (GET /v1/zones, server/zones_endpoint.go): the replica
// states every node reports of the groups it hosts, and the status of each
// zone the meta state and those reports make.

// ReplicaStateOf is the state of a replica of group that node (API address
// httpAddr) hosts: rf is its raft, applied its state machine's applied
// index.
func ReplicaStateOf(node, httpAddr, group string, rf *raft.Raft, applied uint64, voter, ready bool) api.ReplicaState {
	rs := api.ReplicaState{Node: node, HTTPAddr: httpAddr, Group: group, State: rf.State().String(),
		Voter: voter, AppliedIndex: applied, CommitIndex: rf.CommitIndex(), LastIndex: rf.LastIndex(),
		Term: rf.CurrentTerm(), Ready: ready}
	if rf.State() == raft.Leader {
		rs.LastContactMs = new(int64)
	} else if lc := rf.LastContact(); !lc.IsZero() {
		ms := time.Since(lc).Milliseconds()
		rs.LastContactMs = &ms
	}
	return rs
}

// States reports every zone replica in the set, in name order, as this
// node (API address httpAddr) hosts it.
func (s *ReplicaSet) States(httpAddr string) []api.ReplicaState {
	var out []api.ReplicaState
	for _, h := range s.List() {
		// The durable index, not the in-memory one: guard clears rest on
		// it and a failover seed is chosen by it, so it must not go back
		// when the replica restarts (fsm.FSM.DurableIndex).
		rs := ReplicaStateOf(s.cfg.NodeID, httpAddr, "zone/"+h.Name(), h.Replica().Raft(), h.FSM().DurableIndex(), h.Voter(), h.Ready())
		if h.Store() {
			if fi, err := h.FSM().Failover(); err == nil && fi != nil {
				rs.FailoverPayments, rs.FailoverAmount = fi.Payments, fi.Amount
			}
		}
		out = append(out, rs)
	}
	return out
}

// AddDigests fills in the state digest of each replica in rs that the set
// holds (or, by meta, the meta group's; nil: none), and sets its applied
// index to the one the digest was read at.
func (s *ReplicaSet) AddDigests(rs []api.ReplicaState, meta func() (uint64, [32]byte, error)) {
	hosted := map[string]*Hosted{}
	for _, h := range s.List() {
		hosted["zone/"+h.Name()] = h
	}
	for i := range rs {
		var applied uint64
		var sum [32]byte
		var err error
		switch h := hosted[rs[i].Group]; {
		case h != nil:
			applied, sum, err = h.FSM().Digest()
		case rs[i].Group == "meta" && meta != nil:
			applied, sum, err = meta()
		default:
			continue
		}
		if err != nil {
			s.log.Warn("state digest", "group", rs[i].Group, "err", err)
			continue
		}
		rs[i].AppliedIndex, rs[i].Digest = applied, hex.EncodeToString(sum[:])
	}
}

// Status gathers the replica states of the cluster's nodes, and keeps the
// last ones each node reported, so that a node that stops answering is
// shown with its last known applied index.
type Status struct {
	// NodeID is this node's id; Local reports its replicas.
	NodeID string
	Local  func() []api.ReplicaState
	// Get asks the node at API address addr for its replicas (a short
	// timeout).
	Get func(ctx context.Context, addr string, out *[]api.ReplicaState) error

	seenMu sync.Mutex
	seen   map[string]api.ReplicaState
}

// Ask asks nodes for their replicas, in parallel; a node that does not
// answer is absent.
func (s *Status) Ask(ctx context.Context, nodes []fsm.NodeInfo) map[string][]api.ReplicaState {
	out := map[string][]api.ReplicaState{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, nd := range nodes {
		if nd.ID == s.NodeID {
			local := s.Local()
			mu.Lock() // the answers of nodes asked before are being written
			out[nd.ID] = local
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func(id, addr string) {
			defer wg.Done()
			var rs []api.ReplicaState
			if s.Get(ctx, addr, &rs) == nil {
				mu.Lock()
				out[id] = rs
				mu.Unlock()
				s.remember(id, rs)
			}
		}(nd.ID, nd.HTTPAddr)
	}
	wg.Wait()
	return out
}

// remember keeps the last replica states node reported.
func (s *Status) remember(node string, rs []api.ReplicaState) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if s.seen == nil {
		s.seen = map[string]api.ReplicaState{}
	}
	for _, r := range rs {
		s.seen[node+"/"+r.Group] = r
	}
}

func (s *Status) lastSeen(node, group string) (api.ReplicaState, bool) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	r, ok := s.seen[node+"/"+group]
	return r, ok
}

// Zones builds the status of every zone from the meta state st and the
// replicas every node of it reports (Ask).
func (s *Status) Zones(ctx context.Context, st fsm.MetaState) api.ZoneList {
	reps := s.Ask(ctx, st.Nodes)
	list := api.ZoneList{Epoch: st.Epoch}
	for _, z := range st.Zones {
		zs := api.ZoneStatus{Zone: z.Name, Backup: z.Backup, Epoch: st.Epoch, Phase: z.ShownPhase(), Shards: []int{}, GuardGap: z.GuardGap}
		if f := z.Failover; f != nil {
			zs.Failover = failoverStatus(f, reps)
			for i, sh := range st.Shards {
				if sh.Zone == f.Group && z.PhaseOf() != fsm.PhaseNormal {
					zs.Shards = append(zs.Shards, i)
				}
			}
		}
		for i, sh := range st.Shards {
			if sh.Zone == z.Name {
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
				if last, ok := s.lastSeen(nd.ID, group); ok {
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

// NodeStatus is node nodeID's view of its own zone z's group, whose
// replica there is h (nil: none yet, state "none"); addrOf is a node's
// API address as the node knows it ("" if unknown). It backs GET
// /v1/status.
func NodeStatus(h *Hosted, nodeID, z string, addrOf func(id string) string) api.Status {
	st := api.Status{NodeID: nodeID, Zone: z, State: "none"}
	if h == nil {
		return st
	}
	rf := h.Replica().Raft()
	addr, id := rf.LeaderWithID()
	st.State = rf.State().String()
	st.Leader = string(id)
	st.Term = rf.CurrentTerm()
	st.CommitIndex = rf.CommitIndex()
	st.AppliedIndex = h.FSM().AppliedIndex()
	if id != "" {
		st.LeaderHTTP = addrOf(string(id))
	}
	if lc := rf.LastContact(); !lc.IsZero() {
		st.LastContact = lc.UTC().Format(time.RFC3339Nano)
	}
	if servers, err := h.Replica().Members(); err == nil {
		for _, s := range servers {
			st.Voters = append(st.Voters, api.Member{
				ID: string(s.ID), RaftAddr: string(s.Address), HTTPAddr: addrOf(string(s.ID)),
				Suffrage: s.Suffrage.String(), Leader: s.Address == addr && addr != "",
			})
		}
	}
	return st
}
