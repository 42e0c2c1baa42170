package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// ledGroups lists the groups this node leads now: the meta group, and the
// zone groups it votes in (zone.ReplicaSet.Led).
func (n *Node) ledGroups() []zone.LedGroup {
	var out []zone.LedGroup
	if n.meta != nil && n.meta.IsLeader() {
		out = append(out, zone.LedGroup{Name: "meta", Rep: n.meta})
	}
	return append(out, n.zones.Led()...)
}

// handOff moves the leadership of every group this node leads to another
// voter (zone.Handoff, zone/drain.go). It returns what moved.
func (n *Node) handOff(ctx context.Context) []api.LeaderMove { return n.handoff.HandOff(ctx) }

// convergeLifecycle is the node-lifecycle part of converge: joins, the
// removed nodes' departure from every group, the meta voters' refill, and
// a drained or removed node handing off what it leads.
func (n *Node) convergeLifecycle(st fsm.MetaState) error {
	var errs []error
	me := n.cfg.NodeID
	n.handoff.Converge(st)
	if st.Removed(me) {
		n.removedOnce.Do(func() {
			n.log.Warn("this node was removed from the cluster: it leaves every group and may be stopped; a replacement joins under a new id")
		})
		return nil
	}
	errs = append(errs, n.zones.ConvergeJoined(st))
	if n.meta.IsLeader() {
		errs = append(errs, n.convergeMetaMembers(st))
		errs = append(errs, n.admitJoiners(st))
	}
	errs = append(errs, n.zones.ConvergeVoters(st))
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
			errs = append(errs, zone.RemoveServer(n.meta, s.ID, n.cfg.ApplyTimeout))
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
		out.Groups = zone.NodeGroups(before, nd)
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
	moves := n.handoff.HandOffLocked(r.Context())
	for _, m := range moves {
		// A group with no other live voter keeps its leader: the reply
		// says so. Any other failure is worth a retry.
		if m.Error != "" && m.Error != zone.ErrNoTransferTarget.Error() {
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
