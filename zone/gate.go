package zone

import (
	"context"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// ApplyGated applies cmds as one entry in zone h, which this node leads,
// behind the write gate: the zone's shard ownership is set up (waiting up
// to SetConfig.ReadyWait for it), it holds its ownership lease before the
// entry is proposed, and still holds it when the entry has committed (else
// the outcome is reported unknown: another zone may own the shard by
// then). The results go to ReplicaHost.Accepted first. Errors are
// *api.Error or wrap ErrNotLeader.
func (s *ReplicaSet) ApplyGated(ctx context.Context, h *Hosted, cmds ...fsm.Command) ([]fsm.Result, error) {
	if !s.waitReady(ctx, h) {
		return nil, api.Errorf(api.CodeUnavailable, "zone %s is still taking over its shards; retry", h.Name())
	}
	if !s.LeaseValid(h) {
		return nil, api.Errorf(api.CodeLeaseExpired, "zone %s holds no ownership lease from the meta group; not applied, retry", h.Name())
	}
	res, err := s.host.Apply(h, cmds...)
	if err != nil {
		return nil, err
	}
	s.host.Accepted(h, cmds, res)
	if !s.LeaseValid(h) {
		return nil, api.Errorf(api.CodeUnknownOutcome, "zone %s lost its ownership lease while the write committed; retry with the same key", h.Name())
	}
	return res, nil
}

// waitReady waits up to ReadyWait for h's shard ownership to be set up.
func (s *ReplicaSet) waitReady(ctx context.Context, h *Hosted) bool {
	deadline := time.Now().Add(s.cfg.ReadyWait)
	for !h.Ready() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
