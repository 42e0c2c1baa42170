package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Operations (fsm/meta_ops.go): a failover, a recovery, a shard move and
// the cluster's init are records of the meta group. The command that begins
// one answers 202 with its record; GET /v1/ops/{id} follows it. The meta
// leader drives every unfinished one from the phase its record shows
// (opsLoop, zone.ShardMoveDriver): a shard move whose driver died with its meta leader is
// finished by the next, and never stays half done. Failovers and
// recoveries are driven by the failover loop from the zone's phase, which
// their records follow.

// newOpID makes an operation id: 16 random hex digits.
func newOpID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("server: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

func msTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// apiOp is an operation as the API shows it.
func apiOp(o fsm.Op) api.Operation {
	return api.Operation{ID: o.ID, Kind: o.Kind, Target: o.Target, From: o.From, To: o.To, Phase: o.Phase,
		Progress: o.Progress, Detail: o.Detail, Done: o.Done(), Started: msTime(o.Started), Updated: msTime(o.Updated),
		Finished: msTime(o.Finished), Error: o.Error, Index: o.Index}
}

// maxAfterWait bounds how long a read with ?after= waits for this node's
// meta replica to apply that far.
const maxAfterWait = 5 * time.Second

// waitAfter waits, for a request with ?after=INDEX, until this node's meta
// replica has applied INDEX: what it answers then includes the write made
// at INDEX, whichever node made it.
func (n *Node) waitAfter(r *http.Request) *api.Error {
	v := r.URL.Query().Get("after")
	if v == "" || !n.clustered {
		return nil
	}
	idx, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return api.Errorf(api.CodeInvalidArgument, "after %q: want a meta log index", v)
	}
	ctx, cancel := context.WithTimeout(r.Context(), maxAfterWait)
	defer cancel()
	if !n.metaFSM.WaitApplied(ctx.Done(), idx) {
		return api.Errorf(api.CodeUnavailable, "node %s's meta replica has applied %d, not yet %d; retry", n.cfg.NodeID, n.metaFSM.AppliedIndex(), idx)
	}
	return nil
}

// handleListOps lists the operations under way and the latest finished.
func (n *Node) handleListOps(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, apiError(errNotInitialized))
		return
	}
	if e := n.waitAfter(r); e != nil {
		writeError(w, e)
		return
	}
	out := api.OperationList{Operations: []api.Operation{}}
	for _, o := range n.metaFSM.State().Ops {
		out.Operations = append(out.Operations, apiOp(o))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleGetOp answers one operation.
func (n *Node) handleGetOp(w http.ResponseWriter, r *http.Request) {
	if !n.clustered {
		writeError(w, apiError(errNotInitialized))
		return
	}
	if e := n.waitAfter(r); e != nil {
		writeError(w, e)
		return
	}
	id := r.PathValue("id")
	o, ok := n.metaFSM.State().Op(id)
	if !ok {
		writeError(w, api.Errorf(api.CodeNotFound, "no operation %q (as node %s's meta replica knows, at index %d)", id, n.cfg.NodeID, n.metaFSM.AppliedIndex()))
		return
	}
	writeJSON(w, http.StatusOK, apiOp(o))
}

// writeOp answers an admin command with the operation it began: 202 while
// it runs, 200 once it has finished. With ?wait=D (default 0) it first
// waits up to D for it to finish.
func (n *Node) writeOp(w http.ResponseWriter, r *http.Request, o fsm.Op, wait time.Duration) {
	if wait > 0 && !o.Done() && o.ID != "" {
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if cur, ok := n.metaFSM.State().Op(o.ID); ok {
				o = cur
				if o.Done() {
					break
				}
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	status := http.StatusAccepted
	if o.Done() {
		status = http.StatusOK
	}
	writeJSON(w, status, apiOp(o))
}

// waitParam parses ?wait= (default 0).
func waitParam(r *http.Request) (time.Duration, *api.Error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, api.Errorf(api.CodeInvalidArgument, "wait %q: want a duration such as 30s", v)
	}
	return min(d, 10*time.Minute), nil
}

// noteOp records an operation's phase and progress (best effort: the record
// is for those who follow it; a lost update is made good by the next).
// It writes only what changed.
func (n *Node) noteOp(ctx context.Context, id, phase string, progress int, detail string, err error) {
	if id == "" {
		return
	}
	u := fsm.OpUpdate{ID: id, Phase: phase, Progress: progress, Detail: clip(detail)}
	if err != nil {
		u.Error = clip(err.Error())
	}
	if o, ok := n.metaFSM.State().Op(id); !ok || o.Done() ||
		(o.Phase == u.Phase && o.Progress == u.Progress && o.Detail == u.Detail && o.Error == u.Error) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	if _, err := n.metaApply(ctx, fsm.MetaCmd{Type: fsm.MetaOpUpdate, OpUpdate: &u}); err != nil {
		n.log.Debug("record operation progress", "op", id, "phase", phase, "err", err)
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

// activeOpID is the id of the unfinished operation of kind on target, "" if
// none.
func (n *Node) activeOpID(kind, target string) string {
	o, _ := n.metaFSM.State().ActiveOp(kind, target)
	return o.ID
}

// opsLoop drives, on the meta leader, every unfinished shard move from the
// phase its record shows (zone.ShardMoveDriver).
func (n *Node) opsLoop(stop <-chan struct{}) {
	n.every(stop, n.cfg.FailoverTick, n.moves.Tick)
	n.moveTasks.Wait()
}

// testMoveHold, when set (tests), keeps a shard move's driver on node from
// starting phase while it returns true, as if it hung there; the driver
// stops when it loses the meta leadership or its node stops.
var testMoveHold atomic.Pointer[func(node, phase string) bool]

// holdMove waits while testMoveHold holds phase on this node.
func (n *Node) holdMove(ctx context.Context, phase string) error {
	for {
		hold := testMoveHold.Load()
		if hold == nil || !(*hold)(n.cfg.NodeID, phase) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
