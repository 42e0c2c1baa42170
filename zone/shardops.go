package zone

import (
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// The receiving side of a shard's moves between groups (shardmove.go,
// reconcile.go): the checks and commands behind the node's shard
// endpoints, which stay in the server (server/shards_endpoint.go,
// server/failover.go). Each returns the command's result; an error is
// either an *api.Error or one the server maps to the API's.

// MoveState checks a move of shard to zone to that the command would
// begin: the zone must exist; a shard already routed there (and not
// moving) needs no move, and there is true with the move's operation
// record that brought it, or one made up saying so at meta's applied
// index.
func MoveState(meta *fsm.Meta, shard int, to string) (done fsm.Op, there bool, aerr *api.Error) {
	st := meta.State()
	if _, ok := st.ZoneOf(to); !ok {
		return fsm.Op{}, false, api.Errorf(api.CodeInvalidArgument, "no zone %q", to)
	}
	if cur := st.Shards[shard]; cur.Zone != to || cur.Target != "" {
		return fsm.Op{}, false, nil
	}
	// There already: the move that brought it, or a record saying so.
	o, ok := st.LatestOp(fsm.OpShardMove, fsm.ShardTarget(shard))
	if !ok || o.To != to || !o.Done() {
		o = fsm.Op{Kind: fsm.OpShardMove, Target: fsm.ShardTarget(shard), Shard: shard, To: to, Phase: fsm.OpDone,
			Progress: 100, Detail: "the shard is in " + to + " already", Index: meta.AppliedIndex()}
	}
	return o, true, nil
}

// LeaderOf returns the group a shard request names (this node's own zone
// when group is ""), when this node votes in it and leads it.
func (s *ReplicaSet) LeaderOf(group string) (*Hosted, error) {
	h := s.Own()
	if group != "" {
		h = s.Get(group)
	}
	if h == nil || !h.Voter() || !h.Replica().IsLeader() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s does not lead the group", s.cfg.NodeID)
	}
	return h, nil
}

// ownLeader returns the node's own zone when this node leads it; else the
// error says the node does not lead what.
func (s *ReplicaSet) ownLeader(what string) (*Hosted, error) {
	h := s.Own()
	if h == nil || !h.Replica().IsLeader() {
		return nil, api.Errorf(api.CodeUnavailable, "node %s does not lead %s", s.cfg.NodeID, what)
	}
	return h, nil
}

// Import writes a moving shard's records into the own zone's log, which
// this node must lead. Only what a move would send is proposed: records
// of shard, whole users that add up (fsm.Command.Validate), while meta
// moves that shard to this zone.
func (s *ReplicaSet) Import(meta *fsm.Meta, shard int, recs []fsm.Record) (fsm.Result, error) {
	c := fsm.Command{Type: fsm.CmdIngest, Records: recs}
	if err := c.Validate(); err != nil {
		return fsm.Result{}, err
	}
	if u, _ := fsm.RecordUser(recs[0].Bucket, recs[0].Key); int(u%fsm.NumShards) != shard { // Validate: every record is in one shard
		return fsm.Result{}, api.Errorf(api.CodeInvalidArgument, "records of shard %d posted to shard %d", u%fsm.NumShards, shard)
	}
	if meta == nil {
		return fsm.Result{}, errNoMeta
	}
	h, err := s.ownLeader("a zone")
	if err != nil {
		return fsm.Result{}, err
	}
	if route := meta.State().Shards; len(route) <= shard || route[shard].Target != h.Name() {
		// This node's meta replica may not show the move yet: the mover
		// retries.
		return fsm.Result{}, api.Errorf(api.CodeUnavailable, "shard %d is not moving to zone %s (as this node's meta replica knows); retry", shard, h.Name())
	}
	return s.apply(h, c)
}

// DropShard removes a moved shard's outbox and effect records from group
// (LeaderOf), which it left under epoch (fsm.CmdDropShard), so that the
// group delivers none of the shard's notifications again.
func (s *ReplicaSet) DropShard(group string, shard int, epoch uint64) (fsm.Result, error) {
	h, err := s.LeaderOf(group)
	if err != nil {
		return fsm.Result{}, err
	}
	return s.apply(h, fsm.Command{Type: fsm.CmdDropShard, Shards: []byte{byte(shard)}, Epoch: epoch})
}

// errNoMeta refuses a shard import or merge on a standalone node: both
// move shards between zones of a cluster, which only the meta group knows.
var errNoMeta = api.Errorf(api.CodeInvalidArgument, "not a cluster node: shard imports and merges run only in a cluster")

// Merge merges failover store group's shard (its records recs) into the
// own zone, which this node must lead, once the zone has released the
// shard. Only a reconciliation of this zone merges, and only its own
// store.
func (s *ReplicaSet) Merge(meta *fsm.Meta, group string, shard int, recs []fsm.Record) (fsm.Result, error) {
	c := fsm.Command{Type: fsm.CmdMerge, NodeID: group, Shards: []byte{byte(shard)}, Records: recs}
	if err := c.Validate(); err != nil {
		return fsm.Result{}, err
	}
	if meta == nil {
		return fsm.Result{}, errNoMeta
	}
	h, err := s.ownLeader("a zone")
	if err != nil {
		return fsm.Result{}, err
	}
	if z, ok := meta.State().StoreOf(group); !ok || z.Name != h.Name() {
		return fsm.Result{}, api.Errorf(api.CodeInvalidArgument, "group %q is no failover store of zone %s", group, h.Name())
	} else if z.PhaseOf() != fsm.PhaseReconciling {
		return fsm.Result{}, api.Errorf(api.CodeUnavailable, "zone %s is %s, not reconciling %s (as this node's meta replica knows); retry", h.Name(), z.PhaseOf(), group)
	}
	if owned, _, err := h.FSM().Shards(); err != nil || owned[shard] != 0 {
		return fsm.Result{}, api.Errorf(api.CodeUnavailable, "zone %s has not released shard %d yet; retry", h.Name(), shard)
	}
	return s.apply(h, c)
}

// apply proposes c in h's group through the node (ReplicaHost.Apply) and
// returns its result.
func (s *ReplicaSet) apply(h *Hosted, c fsm.Command) (fsm.Result, error) {
	res, err := s.host.Apply(h, c)
	if err != nil {
		return fsm.Result{}, err
	}
	return res[0], nil
}
