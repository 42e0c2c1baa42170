package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/internal/layout"
	"github.com/rzonedb/rzone/zone"
)

// handoffTimeout bounds the transfer of one group's leadership (a drain, a
// shutdown): a transfer that has not ended by then is given up, and the
// group elects a leader the usual way.
const handoffTimeout = 10 * time.Second

// errNoTransferTarget: the group has no other live voter to hand its
// leadership to.
var errNoTransferTarget = errors.New("no other live voter to take the leadership")

// ledGroup is one group this node leads.
type ledGroup struct {
	name string // "meta" or "zone/NAME"
	rep  *zone.Replica
}

// ledGroups lists the groups this node leads now.
func (n *Node) ledGroups() []ledGroup {
	var out []ledGroup
	if n.meta != nil && n.meta.IsLeader() {
		out = append(out, ledGroup{"meta", n.meta})
	}
	for _, h := range n.hostedZones() {
		if h.voter && h.rep.IsLeader() {
			out = append(out, ledGroup{"zone/" + h.zone, h.rep})
		}
	}
	return out
}

// handOff moves the leadership of every group this node leads to another
// voter (transferTargets), all groups at once, each bounded by
// handoffTimeout and ctx. It returns what moved.
func (n *Node) handOff(ctx context.Context) []api.LeaderMove {
	n.handoff.Lock()
	defer n.handoff.Unlock()
	return n.handOffLocked(ctx)
}

func (n *Node) handOffLocked(ctx context.Context) []api.LeaderMove {
	groups := n.ledGroups()
	moves := make([]api.LeaderMove, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to, err := n.transfer(ctx, g.rep)
			moves[i] = api.LeaderMove{Group: g.name, To: to}
			switch {
			case errors.Is(err, errNoTransferTarget):
				// The group's other voters are down (a whole zone
				// stopping): nothing to hand off to.
				moves[i].Error = err.Error()
				n.log.Debug("no leadership transfer", "group", g.name, "err", err)
			case err != nil:
				moves[i].Error = err.Error()
				n.log.Warn("leadership transfer failed", "group", g.name, "err", err)
			case to != "":
				n.log.Info("leadership transferred", "group", g.name, "to", to)
			}
		}()
	}
	wg.Wait()
	return moves
}

// transferTargets lists the voters of rep's group other than this node
// that may take its leadership, best first: undrained nodes, then drained
// ones; by id within each. Removed nodes and, in cluster mode, nodes gossip
// does not show alive are left out.
func (n *Node) transferTargets(rep *zone.Replica) []raft.Server {
	servers, err := rep.Members()
	if err != nil {
		return nil
	}
	var st fsm.MetaState
	if n.metaFSM != nil {
		st = n.metaFSM.State()
	}
	alive := map[string]bool{}
	if n.gossip != nil {
		for _, m := range n.gossip.Members() {
			alive[m.NodeID] = m.State == gossip.StateAlive
		}
	}
	rank := func(s raft.Server) int {
		if st.Drained(string(s.ID)) {
			return 1
		}
		return 0
	}
	var out []raft.Server
	for _, s := range servers {
		if n.gossip != nil && !alive[string(s.ID)] {
			continue // a stopped node cannot take it; the transfer would time out
		}
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID && !st.Removed(string(s.ID)) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b raft.Server) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return cmpStr(string(a.ID), string(b.ID))
	})
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// transfer hands rep's leadership to the first target that takes it and
// returns that node's id; "" with no error if this node no longer leads.
func (n *Node) transfer(ctx context.Context, rep *zone.Replica) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, handoffTimeout)
	defer cancel()
	var errs []error
	for _, s := range n.transferTargets(rep) {
		if !rep.IsLeader() {
			break
		}
		f := rep.Raft().LeadershipTransferToServer(s.ID, s.Address)
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err := <-done:
			if err == nil && steppedDown(ctx, rep) {
				if _, id := rep.Raft().LeaderWithID(); id != "" {
					return string(id), nil
				}
				return string(s.ID), nil
			}
			if err == nil {
				// Raft ends a transfer that timed out without an error.
				err = errors.New("still the leader after the transfer")
			}
			errs = append(errs, fmt.Errorf("to %s: %w", s.ID, err))
		case <-ctx.Done():
			return "", errors.Join(append(errs, fmt.Errorf("to %s: %w", s.ID, ctx.Err()))...)
		}
	}
	if !rep.IsLeader() {
		_, id := rep.Raft().LeaderWithID()
		return string(id), nil
	}
	if len(errs) == 0 {
		return "", errNoTransferTarget
	}
	return "", errors.Join(errs...)
}

// steppedDown waits up to a second (or until ctx ends) for rep to stop
// leading: the old leader steps down once the target's election reaches
// it, a moment after the transfer's future reports success.
func steppedDown(ctx context.Context, rep *zone.Replica) bool {
	deadline := time.Now().Add(time.Second)
	for rep.IsLeader() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// convergeLifecycle is the node-lifecycle part of converge: joins, the
// removed nodes' departure from every group, the meta voters' refill, and
// a drained or removed node handing off what it leads.
func (n *Node) convergeLifecycle(st fsm.MetaState) error {
	var errs []error
	me := n.cfg.NodeID
	if st.Drained(me) || st.Removed(me) {
		if n.handoff.TryLock() {
			if len(n.ledGroups()) > 0 {
				n.handOffLocked(context.Background())
			}
			n.handoff.Unlock()
		}
	}
	if st.Removed(me) {
		n.removedOnce.Do(func() {
			n.log.Warn("this node was removed from the cluster: it leaves every group and may be stopped; a replacement joins under a new id")
		})
		return nil
	}
	// A node that joined after the init opens its zone's replica; the
	// zone's leader adds it as a voter.
	if _, listed := st.Node(me); listed && n.ownZone() == nil {
		n.openMu.Lock()
		if n.ownZone() == nil {
			if _, err := n.openZone(n.cfg.Zone, layout.GroupDir(n.cfg.DataDir, "zone/"+n.cfg.Zone), true); err != nil {
				errs = append(errs, err)
			} else {
				n.log.Info("joined the cluster: hosting a replica of the zone", "zone", n.cfg.Zone)
				n.updateGossip()
			}
		}
		n.openMu.Unlock()
	}
	if n.meta.IsLeader() {
		errs = append(errs, n.convergeMetaMembers(st))
		errs = append(errs, n.admitJoiners(st))
	}
	for _, h := range n.hostedZones() {
		if !h.voter || !h.rep.IsLeader() {
			continue
		}
		members, err := h.rep.Members()
		if err != nil {
			continue
		}
		for _, s := range members {
			if st.Removed(string(s.ID)) {
				errs = append(errs, removeServer(h.rep, s.ID, n.cfg.ApplyTimeout))
			}
		}
		if h.zone != n.cfg.Zone {
			continue
		}
		// The zone's voters: its nodes, a replacement among them.
		for _, nd := range st.Nodes {
			if nd.Zone == h.zone && !hasServer(members, nd.ID) {
				errs = append(errs, h.rep.AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), true, n.cfg.ApplyTimeout))
			}
		}
	}
	return errors.Join(errs...)
}

// convergeMetaMembers (meta leader) takes removed nodes out of the meta
// group and makes every node the meta state marks as a meta voter one.
func (n *Node) convergeMetaMembers(st fsm.MetaState) error {
	members, err := n.meta.Members()
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range members {
		if st.Removed(string(s.ID)) {
			errs = append(errs, removeServer(n.meta, s.ID, n.cfg.ApplyTimeout))
		}
	}
	for _, nd := range st.Nodes {
		if !nd.MetaVoter {
			continue
		}
		i := slices.IndexFunc(members, func(s raft.Server) bool { return string(s.ID) == nd.ID })
		if i >= 0 && members[i].Suffrage == raft.Voter {
			continue
		}
		if err := n.meta.Raft().AddVoter(raft.ServerID(nd.ID), raft.ServerAddress(nd.RaftAddr), 0, n.cfg.ApplyTimeout).Error(); err != nil {
			errs = append(errs, fmt.Errorf("meta voter %s: %w", nd.ID, err))
		} else {
			n.log.Info("meta voter added", "node", nd.ID)
		}
	}
	return errors.Join(errs...)
}

// admitJoiners (meta leader) records the live gossip members that are not
// yet nodes of the cluster: a node started with --gossip-join after the
// init (a replacement) joins so. A removed id stays out.
func (n *Node) admitJoiners(st fsm.MetaState) error {
	if n.gossip == nil {
		return nil
	}
	var errs []error
	for _, m := range n.gossip.Alive() {
		if _, ok := st.Node(m.NodeID); ok || st.Removed(m.NodeID) {
			continue
		}
		if _, ok := st.ZoneOf(m.Zone); !ok {
			continue
		}
		nd := fsm.NodeInfo{ID: m.NodeID, Zone: m.Zone, HTTPAddr: m.HTTPAddr, RaftAddr: m.RaftAddr}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
		res, err := n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaAddNode, Node: &nd})
		cancel()
		switch {
		case err != nil:
			errs = append(errs, err)
		case res.Err != "":
			errs = append(errs, fmt.Errorf("add node %s: %s", nd.ID, res.Err))
		default:
			n.log.Info("node joined the cluster", "joined", nd.ID, "joined_zone", nd.Zone)
		}
	}
	return errors.Join(errs...)
}

func removeServer(rep *zone.Replica, id raft.ServerID, timeout time.Duration) error {
	if err := rep.Raft().RemoveServer(id, 0, timeout).Error(); err != nil {
		return fmt.Errorf("remove %s from %s: %w", id, rep.Group(), err)
	}
	return nil
}

// nodeGroups lists the groups node nd is in by the meta state: its zone's,
// the meta group, and the async followers of the zones its zone backs up.
func nodeGroups(st fsm.MetaState, nd fsm.NodeInfo) []string {
	groups := []string{"zone/" + nd.Zone, "meta"}
	for _, z := range st.Zones {
		if z.Backup == nd.Zone && z.Name != nd.Zone {
			groups = append(groups, "zone/"+z.Name)
		}
	}
	return groups
}

// handleNodeRemove removes a node, dead or live, for good: the meta group
// records it (so no converge round adds it back), and the leaders of its
// groups take it out of their configurations; a spare node takes its meta
// vote. Its id can never join again.
func (n *Node) handleNodeRemove(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	id := r.PathValue("id")
	before := n.metaFSM.State()
	nd, ok := before.Node(id)
	if !ok && !before.Removed(id) {
		writeError(w, api.Errorf(api.CodeNotFound, "no node %q", id))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	defer cancel()
	res, err := n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaRemoveNode, NodeID: id})
	if metaRefused(w, res, err, api.CodeInvalidArgument) {
		return
	}
	out := api.NodeRemoval{Node: id, Zone: nd.Zone, Groups: []string{}, Index: res.Index, MetaVoter: res.MetaVoter}
	if ok {
		out.Groups = nodeGroups(before, nd)
	}
	n.log.Info("node removed", "removed", id, "groups", out.Groups, "meta_voter", out.MetaVoter)
	writeJSON(w, http.StatusOK, out)
}

// handleNodeDrain drains a node: the meta group records it, then the node
// hands off every leadership it holds; from then on it hands off any it
// gets and takes no scheduler task. Another node forwards the request to
// it.
func (n *Node) handleNodeDrain(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	id := r.PathValue("id")
	nd, ok := n.metaFSM.State().Node(id)
	if !ok {
		writeError(w, api.Errorf(api.CodeNotFound, "no node %q", id))
		return
	}
	if id != n.cfg.NodeID {
		hops, _ := strconv.Atoi(r.Header.Get(HeaderForwarded))
		if hops >= maxHops {
			writeError(w, api.Errorf(api.CodeUnavailable, "drain of %s forwarded %d times; retry", id, hops))
			return
		}
		n.proxy(w, r, nil, nd.HTTPAddr, hops+1, true, nil)
		return
	}
	n.handoff.Lock()
	defer n.handoff.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	res, err := n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaDrainNode, NodeID: id})
	if err == nil && res.Err == "" && !n.metaFSM.WaitApplied(ctx.Done(), res.Index) {
		err = fmt.Errorf("%w: the drain is recorded (meta index %d) but this node's replica has not applied it", ErrNotApplied, res.Index)
	}
	cancel()
	if metaRefused(w, res, err, api.CodeInvalidArgument) {
		return
	}
	moves := n.handOffLocked(r.Context())
	for _, m := range moves {
		// A group with no other live voter keeps its leader: the reply
		// says so. Any other failure is worth a retry.
		if m.Error != "" && m.Error != errNoTransferTarget.Error() {
			writeError(w, api.Errorf(api.CodeUnavailable, "node %s is drained, but the leadership of %s did not move (%s); retry", id, m.Group, m.Error))
			return
		}
	}
	n.log.Info("node drained", "moved", len(moves))
	writeJSON(w, http.StatusOK, api.NodeDrain{Node: id, Drained: true, Moved: moves, Index: res.Index})
}

// handleNodeUndrain lets a drained node lead and take tasks again.
func (n *Node) handleNodeUndrain(w http.ResponseWriter, r *http.Request) {
	if !n.clustered || !n.metaFSM.State().Initialized {
		writeError(w, apiError(errNotInitialized))
		return
	}
	id := r.PathValue("id")
	if _, ok := n.metaFSM.State().Node(id); !ok {
		writeError(w, api.Errorf(api.CodeNotFound, "no node %q", id))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	defer cancel()
	res, err := n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaDrainNode, NodeID: id, Undrain: true})
	if metaRefused(w, res, err, api.CodeInvalidArgument) {
		return
	}
	writeJSON(w, http.StatusOK, api.NodeDrain{Node: id, Drained: false, Moved: []api.LeaderMove{}, Index: res.Index})
}
