package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// Route returns the zone that owns user's shard and the route epoch;
// ErrNotInitialized in cluster mode before `cluster init`.
func (m *Member) Route(user uint64) (string, uint64, error) {
	if !m.cfg.Clustered {
		z, e := zone.Single(m.cfg.Zone).Route(user)
		return string(z), e, nil
	}
	z, e, ok := m.host.MetaFSM().Route(user)
	if !ok {
		return "", 0, ErrNotInitialized
	}
	return z, e, nil
}

// RouteEpoch is the route table's epoch (1 on a standalone zone).
func (m *Member) RouteEpoch() uint64 {
	if !m.cfg.Clustered {
		return 1
	}
	return m.host.MetaFSM().State().Epoch
}

// CommandError is the API error of one command's result on user, or nil:
// a shard that is moving is unavailable for the move's short while, a shard
// owned elsewhere is wrong_zone with the current route epoch.
func (m *Member) CommandError(user uint64, r fsm.Result) *api.Error {
	if r.Code == fsm.WrongZone && m.cfg.Clustered {
		shard := user % fsm.NumShards
		if rt := m.host.MetaFSM().State().Shards[shard]; rt.Target != "" {
			return api.Errorf(api.CodeUnavailable, "shard %d is moving to zone %s; not applied, retry", shard, rt.Target)
		}
	}
	e := ResultError(r)
	if e != nil && r.Code == fsm.WrongZone {
		e.Epoch = m.RouteEpoch()
	}
	return e
}

// leading is the node's replica of zone z when it is a voter that leads
// the zone's group, else nil.
func (m *Member) leading(z string) *zone.Hosted {
	h := m.host.Zones().Get(z)
	if h == nil || !h.Voter() || !h.Replica().IsLeader() {
		return nil
	}
	return h
}

// Write applies cmd, validated, on the leader of its user's zone when this
// node is that leader. fwd is that zone when the request must be forwarded
// to its leader instead (this node does not lead it, or stopped leading it
// meanwhile); else res is the command's result, or aerr says why it was
// not applied or was refused.
func (m *Member) Write(ctx context.Context, cmd fsm.Command) (res fsm.Result, fwd string, aerr *api.Error) {
	z, _, err := m.Route(cmd.User)
	if err != nil {
		return res, "", APIError(err)
	}
	h := m.leading(z)
	if h == nil {
		return res, z, nil
	}
	out, err := m.host.Zones().ApplyGated(ctx, h, cmd)
	if errors.Is(err, zone.ErrNotLeader) {
		return res, z, nil
	}
	if err != nil {
		return res, "", APIError(err)
	}
	return out[0], "", m.CommandError(cmd.User, out[0])
}

// Read returns the replica to read user's data from: when stale, any
// local replica of the user's zone; else the zone's leader, once it has
// run the linearizable read protocol (bounded by timeout), while it holds
// the zone's ownership lease and still owns the user's shard. fwd is the
// zone when the request must be forwarded to its leader instead; aerr says
// why the read cannot be served.
func (m *Member) Read(ctx context.Context, user uint64, stale bool, timeout time.Duration) (h *zone.Hosted, fwd string, aerr *api.Error) {
	z, _, err := m.Route(user)
	if err != nil {
		return nil, "", APIError(err)
	}
	if stale {
		if h = m.host.Zones().Get(z); h == nil {
			return nil, z, nil
		}
		return h, "", nil
	}
	if h = m.leading(z); h == nil {
		return nil, z, nil
	}
	if !m.host.Zones().LeaseValid(h) {
		return nil, "", api.Errorf(api.CodeLeaseExpired, "zone %s holds no ownership lease; its state may be stale", z)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	err = h.Replica().Linearizable(ctx, timeout)
	cancel()
	if errors.Is(err, zone.ErrNotLeader) {
		return nil, z, nil
	}
	if err != nil {
		return nil, "", APIError(err)
	}
	// A group that has given the shard up (a route this node has not seen
	// change yet) must not answer for it: its state is no longer the
	// account's.
	if owned, epoch := h.FSM().Owns(user); !owned {
		e := api.Errorf(api.CodeWrongZone, "shard %d of user %d is not served by %s now (epoch %d); refresh routes and retry", user%fsm.NumShards, user, z, epoch)
		e.Epoch = m.RouteEpoch()
		return nil, "", e
	}
	return h, "", nil
}
