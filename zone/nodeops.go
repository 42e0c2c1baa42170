package zone

import (
	"context"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// A node's removal, drain and undrain (docs/DESIGN.md): the meta group
// records each, and a drained node hands off what it leads (drain.go). The
// endpoints, and the forwarding of a drain to the node drained, stay in
// the server (server/lifecycle.go).

// metaRefused is the error of a meta command that did not apply (err) or
// that the meta state machine refused (res.Err, an invalid argument); nil
// when it applied.
func metaRefused(res fsm.MetaResult, err error) error {
	if err != nil {
		return err
	}
	if res.Err != "" {
		return api.Errorf(api.CodeInvalidArgument, "%s", res.Err)
	}
	return nil
}

// Remove removes node id, dead or live, for good: the meta group records
// it (so no converge round adds it back), and the leaders of its groups
// take it out of their configurations; a spare node takes its meta vote.
// Its id can never join again. ctx bounds the meta command.
func (h *Handoff) Remove(ctx context.Context, id string) (api.NodeRemoval, error) {
	before := h.host.MetaState()
	nd, ok := before.Node(id)
	if !ok && !before.Removed(id) {
		return api.NodeRemoval{}, api.Errorf(api.CodeNotFound, "no node %q", id)
	}
	res, err := h.host.MetaApply(ctx, fsm.MetaCmd{Type: fsm.MetaRemoveNode, NodeID: id})
	if err := metaRefused(res, err); err != nil {
		return api.NodeRemoval{}, err
	}
	out := api.NodeRemoval{Node: id, Zone: nd.Zone, Groups: []string{}, Index: res.Index, MetaVoter: res.MetaVoter}
	if ok {
		out.Groups = NodeGroups(before, nd)
	}
	h.log.Info("node removed", "removed", id, "groups", out.Groups, "meta_voter", out.MetaVoter)
	return out, nil
}

// Drain drains this node: the meta group records it (bounded by timeout,
// and applied by this node's meta replica), then the node hands off every
// leadership it holds (bounded by ctx); from then on it hands off any it
// gets and takes no scheduler task. A group with no other live voter
// keeps its leader (the reply says so); any other failed hand-off is an
// error worth a retry.
func (h *Handoff) Drain(ctx context.Context, timeout time.Duration) (api.NodeDrain, error) {
	h.Lock()
	defer h.Unlock()
	actx, cancel := context.WithTimeout(ctx, timeout)
	res, err := h.host.MetaApply(actx, fsm.MetaCmd{Type: fsm.MetaDrainNode, NodeID: h.nodeID})
	if err == nil && res.Err == "" && !h.host.Meta().WaitApplied(actx.Done(), res.Index) {
		err = fmt.Errorf("%w: the drain is recorded (meta index %d) but this node's replica has not applied it", ErrNotApplied, res.Index)
	}
	cancel()
	if err := metaRefused(res, err); err != nil {
		return api.NodeDrain{}, err
	}
	moves := h.HandOffLocked(ctx)
	for _, m := range moves {
		if m.Error != "" && m.Error != ErrNoTransferTarget.Error() {
			return api.NodeDrain{}, api.Errorf(api.CodeUnavailable, "node %s is drained, but the leadership of %s did not move (%s); retry", h.nodeID, m.Group, m.Error)
		}
	}
	h.log.Info("node drained", "moved", len(moves))
	return api.NodeDrain{Node: h.nodeID, Drained: true, Moved: moves, Index: res.Index}, nil
}

// Undrain lets drained node id lead and take tasks again. ctx bounds the
// meta command.
func (h *Handoff) Undrain(ctx context.Context, id string) (api.NodeDrain, error) {
	if _, ok := h.host.MetaState().Node(id); !ok {
		return api.NodeDrain{}, api.Errorf(api.CodeNotFound, "no node %q", id)
	}
	res, err := h.host.MetaApply(ctx, fsm.MetaCmd{Type: fsm.MetaDrainNode, NodeID: id, Undrain: true})
	if err := metaRefused(res, err); err != nil {
		return api.NodeDrain{}, err
	}
	return api.NodeDrain{Node: id, Drained: false, Moved: []api.LeaderMove{}, Index: res.Index}, nil
}
