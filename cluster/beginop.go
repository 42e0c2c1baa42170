package cluster

import (
	"context"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// BeginOp applies c, a meta command that begins an operation (a failover,
// a recovery, a shard move), through ApplyIdempotent, and returns the
// operation's record as the meta group applied it: the reply reflects the
// command whether or not this node's meta replica has applied it yet. A
// refusal of the meta state machine is an *api.Error with code; a command
// applied without a record, an internal one saying the meta group did
// what.
func (m *Member) BeginOp(ctx context.Context, c fsm.MetaCmd, code api.Code, what string) (fsm.Op, error) {
	res, err := m.ApplyIdempotent(ctx, c)
	if err != nil {
		return fsm.Op{}, err
	}
	if res.Err != "" {
		return fsm.Op{}, api.Errorf(code, "%s", res.Err)
	}
	if res.Op == nil {
		return fsm.Op{}, api.Errorf(api.CodeInternal, "the meta group %s without an operation record", what)
	}
	return *res.Op, nil
}
