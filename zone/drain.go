package zone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/gossip"
	"github.com/rzonedb/rzone/internal/layout"
)

// A node's lifecycle in its groups (docs/DESIGN.md): the hand-off of the
// leaderships it holds (a drain, a shutdown, a drained or removed node's
// converge round), a joined node's own zone replica, and the zone leaders'
// voters as nodes are removed and replaced. The removal, drain and undrain
// themselves are nodeops.go; their endpoints are the server's
// (server/lifecycle.go).

// HandoffTimeout bounds the transfer of one group's leadership (a drain, a
// shutdown): a transfer that has not ended by then is given up, and the
// group elects a leader the usual way.
const HandoffTimeout = 10 * time.Second

// ErrNoTransferTarget: the group has no other live voter to hand its
// leadership to.
var ErrNoTransferTarget = errors.New("no other live voter to take the leadership")

// LedGroup is one group this node leads.
type LedGroup struct {
	Name string // "meta" or "zone/NAME"
	Rep  *Replica
}

// Led lists the zone groups in the set that this node votes in and leads
// now.
func (s *ReplicaSet) Led() []LedGroup {
	var out []LedGroup
	for _, h := range s.List() {
		if h.Voter() && h.Replica().IsLeader() {
			out = append(out, LedGroup{"zone/" + h.Name(), h.Replica()})
		}
	}
	return out
}

// LedWith lists the groups this node leads now: the meta group (its
// member meta, which may be nil: standalone), and the zone groups of the
// set it votes in (Led).
func (s *ReplicaSet) LedWith(meta *Replica) []LedGroup {
	var out []LedGroup
	if meta != nil && meta.IsLeader() {
		out = append(out, LedGroup{Name: "meta", Rep: meta})
	}
	return append(out, s.Led()...)
}

// Handoff hands off the leaderships of the groups a node leads. Its lock
// serializes the hand-offs: a drain's, converge's for a drained node, a
// shutdown's; whoever holds it calls HandOffLocked.
type Handoff struct {
	sync.Mutex
	host   HandoffHost
	nodeID string
	log    *slog.Logger
}

// NewHandoff makes the hand-off of node nodeID.
func NewHandoff(host HandoffHost, nodeID string, log *slog.Logger) *Handoff {
	return &Handoff{host: host, nodeID: nodeID, log: log}
}

// HandOff moves the leadership of every group this node leads to another
// voter (transferTargets), all groups at once, each bounded by
// HandoffTimeout and ctx. It returns what moved.
func (h *Handoff) HandOff(ctx context.Context) []api.LeaderMove {
	h.Lock()
	defer h.Unlock()
	return h.HandOffLocked(ctx)
}

// HandOffLocked is HandOff for a caller that holds the lock.
func (h *Handoff) HandOffLocked(ctx context.Context) []api.LeaderMove {
	groups := h.host.LedGroups()
	moves := make([]api.LeaderMove, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to, err := h.transfer(ctx, g.Rep)
			moves[i] = api.LeaderMove{Group: g.Name, To: to}
			switch {
			case errors.Is(err, ErrNoTransferTarget):
				// The group's other voters are down (a whole zone
				// stopping): nothing to hand off to.
				moves[i].Error = err.Error()
				h.log.Debug("no leadership transfer", "group", g.Name, "err", err)
			case err != nil:
				moves[i].Error = err.Error()
				h.log.Warn("leadership transfer failed", "group", g.Name, "err", err)
			case to != "":
				h.log.Info("leadership transferred", "group", g.Name, "to", to)
			}
		}()
	}
	wg.Wait()
	return moves
}

// Converge, once this node is drained or removed, hands off what it leads
// (unless another hand-off runs now).
func (h *Handoff) Converge(st fsm.MetaState) {
	if !st.Drained(h.nodeID) && !st.Removed(h.nodeID) {
		return
	}
	if h.TryLock() {
		if len(h.host.LedGroups()) > 0 {
			h.HandOffLocked(context.Background())
		}
		h.Unlock()
	}
}

// transferTargets lists the voters of rep's group other than this node
// that may take its leadership, best first: undrained nodes, then drained
// ones; by id within each. Removed nodes and, in cluster mode, nodes gossip
// does not show alive are left out.
func (h *Handoff) transferTargets(rep *Replica) []raft.Server {
	servers, err := rep.Members()
	if err != nil {
		return nil
	}
	st := h.host.MetaState()
	alive, gossip := h.host.Alive()
	rank := func(s raft.Server) int {
		if st.Drained(string(s.ID)) {
			return 1
		}
		return 0
	}
	var out []raft.Server
	for _, s := range servers {
		if gossip && !alive[string(s.ID)] {
			continue // a stopped node cannot take it; the transfer would time out
		}
		if s.Suffrage == raft.Voter && string(s.ID) != h.nodeID && !st.Removed(string(s.ID)) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b raft.Server) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	return out
}

// transfer hands rep's leadership to the first target that takes it and
// returns that node's id; "" with no error if this node no longer leads.
func (h *Handoff) transfer(ctx context.Context, rep *Replica) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, HandoffTimeout)
	defer cancel()
	var errs []error
	for _, s := range h.transferTargets(rep) {
		if !rep.IsLeader() {
			break
		}
		err := rep.await(ctx, rep.Raft().LeadershipTransferToServer(s.ID, s.Address))
		if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			return "", errors.Join(append(errs, fmt.Errorf("to %s: %w", s.ID, cerr))...)
		}
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
	}
	if !rep.IsLeader() {
		_, id := rep.Raft().LeaderWithID()
		return string(id), nil
	}
	if len(errs) == 0 {
		return "", ErrNoTransferTarget
	}
	return "", errors.Join(errs...)
}

// steppedDown waits up to a second (or until ctx ends) for rep to stop
// leading: the old leader steps down once the target's election reaches
// it, a moment after the transfer's future reports success.
func steppedDown(ctx context.Context, rep *Replica) bool {
	deadline := time.Now().Add(time.Second)
	for rep.IsLeader() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// ConvergeJoined opens the own zone's replica of a node that joined after
// the init, once the meta state lists it; the zone's leader adds it as a
// voter (ConvergeVoters).
func (s *ReplicaSet) ConvergeJoined(st fsm.MetaState) error {
	if _, listed := st.Node(s.cfg.NodeID); !listed || s.Own() != nil {
		return nil
	}
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.Own() != nil {
		return nil
	}
	if _, err := s.Open(s.cfg.Zone, layout.GroupDir(s.cfg.DataDir, "zone/"+s.cfg.Zone), true); err != nil {
		return err
	}
	s.log.Info("joined the cluster: hosting a replica of the zone", "zone", s.cfg.Zone)
	s.host.RolesChanged()
	return nil
}

// ConvergeVoters, on the leader of every group this node votes in, takes
// removed nodes out, and on its own zone's leader adds the zone's nodes (a
// replacement among them) as voters.
func (s *ReplicaSet) ConvergeVoters(st fsm.MetaState) error {
	var errs []error
	for _, h := range s.List() {
		if !h.Voter() || !h.Replica().IsLeader() {
			continue
		}
		members, err := h.Replica().Members()
		if err != nil {
			continue
		}
		for _, m := range members {
			if st.Removed(string(m.ID)) {
				errs = append(errs, RemoveServer(h.Replica(), m.ID, s.cfg.ApplyTimeout))
			}
		}
		if h.Name() != s.cfg.Zone {
			continue
		}
		// The zone's voters: its nodes, a replacement among them.
		for _, nd := range st.Nodes {
			if nd.Zone == h.Name() && !HasServer(members, nd.ID) {
				errs = append(errs, h.Replica().AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), true, s.cfg.ApplyTimeout))
			}
		}
	}
	return errors.Join(errs...)
}

// AddMetaNonVoters (meta leader) adds every node of st that is no meta
// voter to the meta group (meta is this node's replica of it) as a
// non-voter.
func AddMetaNonVoters(meta *Replica, st fsm.MetaState, timeout time.Duration) error {
	members, err := meta.Members()
	if err != nil {
		return nil
	}
	var errs []error
	for _, nd := range st.Nodes {
		if !nd.MetaVoter && !HasServer(members, nd.ID) {
			errs = append(errs, meta.AddServer(nd.ID, raft.ServerAddress(nd.RaftAddr), false, timeout))
		}
	}
	return errors.Join(errs...)
}

// ConvergeMetaMembers (meta leader) takes removed nodes out of the meta
// group (meta is this node's replica of it) and makes every node the meta
// state marks as a meta voter one.
func ConvergeMetaMembers(meta *Replica, st fsm.MetaState, timeout time.Duration, log *slog.Logger) error {
	members, err := meta.Members()
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range members {
		if st.Removed(string(s.ID)) {
			errs = append(errs, RemoveServer(meta, s.ID, timeout))
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
		if err := meta.await(context.Background(), meta.Raft().AddVoter(raft.ServerID(nd.ID), raft.ServerAddress(nd.RaftAddr), 0, timeout)); err != nil {
			errs = append(errs, fmt.Errorf("meta voter %s: %w", nd.ID, err))
		} else {
			log.Info("meta voter added", "node", nd.ID)
		}
	}
	return errors.Join(errs...)
}

// AdmitJoiners (meta leader) records the live gossip members (alive) that
// are not yet nodes of the cluster: a node started with --gossip-join
// after the init (a replacement) joins so. A removed id stays out.
func AdmitJoiners(host Host, alive []gossip.Meta, st fsm.MetaState, timeout time.Duration, log *slog.Logger) error {
	var errs []error
	for _, m := range alive {
		if _, ok := st.Node(m.NodeID); ok || st.Removed(m.NodeID) {
			continue
		}
		if _, ok := st.ZoneOf(m.Zone); !ok {
			continue
		}
		nd := fsm.NodeInfo{ID: m.NodeID, Zone: m.Zone, HTTPAddr: m.HTTPAddr, RaftAddr: m.RaftAddr}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		res, err := host.MetaApply(ctx, fsm.MetaCmd{Type: fsm.MetaAddNode, Node: &nd})
		cancel()
		switch {
		case err != nil:
			errs = append(errs, err)
		case res.Err != "":
			errs = append(errs, fmt.Errorf("add node %s: %s", nd.ID, res.Err))
		default:
			log.Info("node joined the cluster", "joined", nd.ID, "joined_zone", nd.Zone)
		}
	}
	return errors.Join(errs...)
}

// RemoveServer takes node id out of rep's group.
func RemoveServer(rep *Replica, id raft.ServerID, timeout time.Duration) error {
	if err := rep.await(context.Background(), rep.Raft().RemoveServer(id, 0, timeout)); err != nil {
		return fmt.Errorf("remove %s from %s: %w", id, rep.Group(), err)
	}
	return nil
}

// NodeGroups lists the groups node nd is in by the meta state: its zone's,
// the meta group, and the async followers of the zones its zone backs up.
func NodeGroups(st fsm.MetaState, nd fsm.NodeInfo) []string {
	groups := []string{"zone/" + nd.Zone, "meta"}
	for _, z := range st.Zones {
		if z.Backup == nd.Zone && z.Name != nd.Zone {
			groups = append(groups, "zone/"+z.Name)
		}
	}
	return groups
}
