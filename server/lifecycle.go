package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

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
		errs = append(errs, zone.ConvergeMetaMembers(n.meta, st, n.cfg.ApplyTimeout, n.log))
		if n.gossip != nil {
			errs = append(errs, zone.AdmitJoiners(zoneHost{n: n}, n.gossip.Alive(), st, n.cfg.ApplyTimeout, n.log))
		}
	}
	errs = append(errs, n.zones.ConvergeVoters(st))
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
