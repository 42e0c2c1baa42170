package fsm

import (
	"fmt"
	"strings"
)

// Operations: the long admin commands (a zone's failover and recovery, a
// shard move, the cluster's init) as records of the meta group, so that
// whoever asks can follow them (GET /v1/ops/{id}) and a meta leader that
// takes over finds every unfinished one where its driver left it
// (cluster/ops.go; a shard move's driver is zone/shardmove.go).
//
// An operation is created by the command that starts it (MetaMoveShard,
// MetaFailover, MetaRecover, MetaInit carrying OpID) and finished by the
// command that ends it (MetaFinishMove, MetaPromote, MetaFinishRecover), in
// the same apply: the record and the state it describes never disagree. In
// between, its driver records phase and progress with MetaOpUpdate.

// Operation kinds.
const (
	OpFailover    = "failover"
	OpRecover     = "recover"
	OpShardMove   = "shard_move"
	OpClusterInit = "cluster_init"
)

// OpDone is the phase of a finished operation.
const OpDone = "done"

// PhaseAwaitingLease is the last phase of a recovery: the shards are home,
// the zone's leader has yet to renew its lease and serve them.
const PhaseAwaitingLease = "awaiting_lease"

// MetaOpUpdate records an operation's phase and progress (OpUpdate). Its
// number is part of the log format.
const MetaOpUpdate byte = 40

// maxOpsKept bounds the finished operations the meta state keeps; the
// oldest finished go first.
const maxOpsKept = 100

// maxOpText bounds an operation's detail and error.
const maxOpText = 512

// Op is one operation as the meta group records it.
type Op struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Shard, From and To describe a shard move.
	Shard int    `json:"shard,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	Phase string `json:"phase"`
	// Progress is in percent.
	Progress int    `json:"progress"`
	Detail   string `json:"detail,omitempty"`
	// Error is the last error its driver met (it goes on retrying).
	Error string `json:"error,omitempty"`
	// Started, Updated and Finished are log times (Unix ms).
	Started  int64 `json:"started"`
	Updated  int64 `json:"updated"`
	Finished int64 `json:"finished,omitempty"`
	// Index is the meta log index of its latest change: a read at or
	// after it shows the state the record describes.
	Index uint64 `json:"index"`
}

// Done reports whether the operation has finished.
func (o Op) Done() bool { return o.Phase == OpDone }

// OpUpdate is MetaOpUpdate's payload.
type OpUpdate struct {
	ID       string `json:"id"`
	Phase    string `json:"phase"`
	Progress int    `json:"progress"`
	Detail   string `json:"detail,omitempty"`
	Error    string `json:"error,omitempty"`
}

// validOpID reports whether id is an operation id: 1 to 32 lowercase hex
// digits (cluster.NewOpID makes 16).
func validOpID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	return strings.Trim(id, "0123456789abcdef") == ""
}

func (c *MetaCmd) invalidOp() string {
	if c.OpID != "" && !validOpID(c.OpID) {
		return fmt.Sprintf("operation id %q is not 1 to 32 lowercase hex digits", c.OpID)
	}
	if c.Type != MetaOpUpdate {
		return ""
	}
	u := c.OpUpdate
	switch {
	case u == nil:
		return "operation update without payload"
	case !validOpID(u.ID):
		return fmt.Sprintf("operation id %q is not 1 to 32 lowercase hex digits", u.ID)
	case u.Phase == "" || len(u.Phase) > 32 || u.Phase == OpDone:
		return fmt.Sprintf("phase %q: want 1 to 32 bytes, not %q (the command that ends an operation finishes it)", u.Phase, OpDone)
	case u.Progress < 0 || u.Progress > 100:
		return fmt.Sprintf("progress %d%% out of range 0..100", u.Progress)
	case len(u.Detail) > maxOpText || len(u.Error) > maxOpText:
		return fmt.Sprintf("detail or error longer than %d bytes", maxOpText)
	}
	return ""
}

// Op returns the operation with id.
func (s MetaState) Op(id string) (Op, bool) {
	for _, o := range s.Ops {
		if o.ID == id {
			return o, true
		}
	}
	return Op{}, false
}

// ActiveOp returns the unfinished operation of kind on target.
func (s MetaState) ActiveOp(kind, target string) (Op, bool) {
	for _, o := range s.Ops {
		if o.Kind == kind && o.Target == target && !o.Done() {
			return o, true
		}
	}
	return Op{}, false
}

// LatestOp returns the latest operation of kind on target, finished or
// not.
func (s MetaState) LatestOp(kind, target string) (Op, bool) {
	for i := len(s.Ops) - 1; i >= 0; i-- {
		if o := s.Ops[i]; o.Kind == kind && o.Target == target {
			return o, true
		}
	}
	return Op{}, false
}

// ShardTarget is the target of a move of shard.
func ShardTarget(shard int) string { return fmt.Sprintf("shard %d", shard) }

// startOp records a new operation begun by c (when c names one): an
// unfinished one of the same kind and target is returned instead, so a
// command asked twice has one operation.
func (s *MetaState) startOp(c *MetaCmd, o Op) *Op {
	if c.OpID == "" {
		return nil
	}
	if cur, ok := s.ActiveOp(o.Kind, o.Target); ok {
		return &cur
	}
	if cur, ok := s.Op(c.OpID); ok {
		return &cur // the same command applied again
	}
	o.ID = c.OpID
	o.Started, o.Updated, o.Index = c.Time, c.Time, c.index
	if o.Phase == OpDone {
		o.Progress, o.Finished = 100, c.Time
	}
	s.Ops = append(s.Ops, o)
	s.trimOps()
	return &o
}

// existingOp is the operation a command repeated after its state change
// answers with: the unfinished one of kind on target, else the latest, else
// (state from before operations were recorded) a new one in phase.
func (s *MetaState) existingOp(c *MetaCmd, o Op) *Op {
	if cur, ok := s.ActiveOp(o.Kind, o.Target); ok {
		return &cur
	}
	if cur, ok := s.LatestOp(o.Kind, o.Target); ok && (o.Phase == OpDone) == cur.Done() {
		return &cur
	}
	return s.startOp(c, o)
}

// finishOp finishes the unfinished operation of kind on target, if any.
func (s *MetaState) finishOp(c *MetaCmd, kind, target, detail string) *Op {
	for i := range s.Ops {
		o := &s.Ops[i]
		if o.Kind == kind && o.Target == target && !o.Done() {
			o.Phase, o.Progress, o.Error = OpDone, 100, ""
			if detail != "" {
				o.Detail = detail
			}
			o.Updated, o.Finished, o.Index = c.Time, c.Time, c.index
			out := *o
			s.trimOps()
			return &out
		}
	}
	return nil
}

// stepOp moves the unfinished operation of kind on target to phase, if
// there is one.
func (s *MetaState) stepOp(c *MetaCmd, kind, target, phase string, progress int, detail string) *Op {
	for i := range s.Ops {
		o := &s.Ops[i]
		if o.Kind == kind && o.Target == target && !o.Done() {
			o.Phase, o.Progress, o.Detail, o.Error = phase, progress, detail, ""
			o.Updated, o.Index = c.Time, c.index
			out := *o
			return &out
		}
	}
	return nil
}

// updateOp applies MetaOpUpdate.
func (s *MetaState) updateOp(c *MetaCmd) MetaResult {
	u := c.OpUpdate
	if u == nil { // Validate refuses it; never dereferenced unchecked
		return MetaResult{Err: "operation update without its payload", Invalid: true}
	}
	for i := range s.Ops {
		o := &s.Ops[i]
		if o.ID != u.ID {
			continue
		}
		if o.Done() {
			return MetaResult{Err: fmt.Sprintf("operation %s has finished", u.ID), Epoch: s.Epoch}
		}
		if o.Kind == OpShardMove && movePhaseRank(u.Phase) < movePhaseRank(o.Phase) {
			// A shard move's record is where its next driver resumes:
			// a late update from a deposed driver must not send it back.
			return MetaResult{Err: fmt.Sprintf("operation %s is at phase %s; %s is behind it", u.ID, o.Phase, u.Phase), Epoch: s.Epoch}
		}
		o.Phase, o.Progress, o.Detail, o.Error = u.Phase, u.Progress, u.Detail, u.Error
		o.Updated, o.Index = c.Time, c.index
		out := *o
		return MetaResult{Epoch: s.Epoch, Op: &out}
	}
	return MetaResult{Err: fmt.Sprintf("no operation %s", u.ID), Epoch: s.Epoch}
}

// A shard move's phases, in order (zone/shardmove.go drives them).
const (
	MovePhaseReleasing = "releasing"
	MovePhaseImporting = "importing"
	MovePhaseDropping  = "dropping"
	MovePhaseRouting   = "routing"
)

// movePhaseRank orders a shard move's phases; a phase it does not know
// ranks first.
func movePhaseRank(phase string) int {
	switch phase {
	case MovePhaseReleasing:
		return 1
	case MovePhaseImporting:
		return 2
	case MovePhaseDropping:
		return 3
	case MovePhaseRouting:
		return 4
	}
	return 0
}

// trimOps drops the oldest finished operations beyond maxOpsKept.
func (s *MetaState) trimOps() {
	finished := 0
	for _, o := range s.Ops {
		if o.Done() {
			finished++
		}
	}
	if finished <= maxOpsKept {
		return
	}
	drop := finished - maxOpsKept
	kept := s.Ops[:0:0]
	for _, o := range s.Ops {
		if o.Done() && drop > 0 {
			drop--
			continue
		}
		kept = append(kept, o)
	}
	s.Ops = kept
}
