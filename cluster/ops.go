package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Operations (fsm/meta_ops.go): a failover, a recovery, a shard move and
// the cluster's init are records of the meta group. The command that begins
// one answers 202 with its record; GET /v1/ops/{id} follows it. The meta
// leader drives every unfinished one from the phase its record shows
// (the node's shard move service, zone.ShardMoveDriver): a shard move whose
// driver died with its meta leader is finished by the next, and never stays
// half done. Failovers and recoveries are driven by the failover loop from
// the zone's phase, which their records follow.

// NewOpID makes an operation id: 16 random hex digits.
func NewOpID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("cluster: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

func msTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// APIOp is an operation as the API shows it.
func APIOp(o fsm.Op) api.Operation {
	return api.Operation{ID: o.ID, Kind: o.Kind, Target: o.Target, From: o.From, To: o.To, Phase: o.Phase,
		Progress: o.Progress, Detail: o.Detail, Done: o.Done(), Started: msTime(o.Started), Updated: msTime(o.Updated),
		Finished: msTime(o.Finished), Error: o.Error, Index: o.Index}
}

// APIOps lists operations as the API shows them.
func APIOps(ops []fsm.Op) api.OperationList {
	out := api.OperationList{Operations: []api.Operation{}}
	for _, o := range ops {
		out.Operations = append(out.Operations, APIOp(o))
	}
	return out
}

// maxAfterWait bounds how long a read with ?after= waits for this node's
// meta replica to apply that far.
const maxAfterWait = 5 * time.Second

// WaitAfter waits, for a request with ?after=after, until this node's meta
// replica has applied that index: what it answers then includes the write
// made at the index, whichever node made it. An empty after waits for
// nothing.
func (m *Member) WaitAfter(ctx context.Context, after string) *api.Error {
	if after == "" {
		return nil
	}
	idx, err := strconv.ParseUint(after, 10, 64)
	if err != nil {
		return api.Errorf(api.CodeInvalidArgument, "after %q: want a meta log index", after)
	}
	ctx, cancel := context.WithTimeout(ctx, maxAfterWait)
	defer cancel()
	meta := m.host.MetaFSM()
	if !meta.WaitApplied(ctx.Done(), idx) {
		return api.Errorf(api.CodeUnavailable, "node %s's meta replica has applied %d, not yet %d; retry", m.cfg.NodeID, meta.AppliedIndex(), idx)
	}
	return nil
}

// WaitOp waits up to wait for operation o to finish, and returns its
// record as this node's meta replica last saw it. It returns false if ctx
// ends first.
func (m *Member) WaitOp(ctx context.Context, o fsm.Op, wait time.Duration) (fsm.Op, bool) {
	if wait > 0 && !o.Done() && o.ID != "" {
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if cur, ok := m.host.MetaFSM().State().Op(o.ID); ok {
				o = cur
				if o.Done() {
					break
				}
			}
			select {
			case <-ctx.Done():
				return o, false
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return o, true
}

// ParseWait parses a ?wait= value (default 0, at most ten minutes).
func ParseWait(v string) (time.Duration, *api.Error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, api.Errorf(api.CodeInvalidArgument, "wait %q: want a duration such as 30s", v)
	}
	return min(d, 10*time.Minute), nil
}

// NoteOp records an operation's phase and progress (best effort: the
// record is for those who follow it; a lost update is made good by the
// next). It writes only what changed.
func (m *Member) NoteOp(ctx context.Context, id, phase string, progress int, detail string, err error) {
	if id == "" {
		return
	}
	u := fsm.OpUpdate{ID: id, Phase: phase, Progress: progress, Detail: clip(detail)}
	if err != nil {
		u.Error = clip(err.Error())
	}
	if o, ok := m.host.MetaFSM().State().Op(id); !ok || o.Done() ||
		(o.Phase == u.Phase && o.Progress == u.Progress && o.Detail == u.Detail && o.Error == u.Error) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ApplyTimeout)
	defer cancel()
	if _, err := m.Apply(ctx, fsm.MetaCmd{Type: fsm.MetaOpUpdate, OpUpdate: &u}); err != nil {
		m.log.Debug("record operation progress", "op", id, "phase", phase, "err", err)
	}
}

// clip bounds an operation's detail or error text.
func clip(s string) string {
	const limit = 500
	if len(s) > limit {
		return s[:limit-3] + "..."
	}
	return s
}
