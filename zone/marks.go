package zone

import (
	"context"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// The backup zone's side of the guard marks (docs/DESIGN.md, Failover): a
// zone leader's guard keeper (guardkeeper.go, marker.go) sends its marks
// and clears to the backup zone's leader, which checks them here and
// applies them (ApplyMarks); a failover reads them back (ReadOwnGuard).
// The HTTP handlers are the server's (server/guard.go).

// Command is the command that applies req in the receiving node's zone: a
// CmdMark, or with Clear a CmdGuardClear. The caller validates it.
func (req MarksRequest) Command() fsm.Command {
	if req.Clear {
		return fsm.Command{Type: fsm.CmdGuardClear, NodeID: req.Zone, Marks: req.Marks, Epoch: req.Watermark, Term: req.Sweep}
	}
	return fsm.Command{Type: fsm.CmdMark, NodeID: req.Zone, Marks: req.Marks}
}

// CheckMarks refuses a marks request the marked zone's leader would not
// send, as far as this node can tell from its own async follower of that
// zone: the zone must be backed up by h (the node's own zone, as meta
// knows it); no mark, clear or sweep may name a term the zone has not
// reached (marks are taken unchecked while the follower here is closed:
// they only make a failover more careful); a clear of marks (or a sweep)
// may rest only on a watermark the follower here has applied, and a bare
// watermark raise may not pass the zone's log. Which (term, seq) a mark
// really has cannot be checked here: only authentication of the caller
// closes that. meta is read only in cluster mode (it may be nil
// standalone).
func (s *ReplicaSet) CheckMarks(h *Hosted, meta *fsm.Meta, req MarksRequest) *api.Error {
	if !s.cfg.Clustered {
		return api.Errorf(api.CodeInvalidArgument, "a standalone zone backs up no zone")
	}
	if z, ok := meta.State().ZoneOf(req.Zone); !ok || z.Backup != h.Name() || z.Name == h.Name() {
		return api.Errorf(api.CodeInvalidArgument, "zone %s does not back up zone %q", h.Name(), req.Zone)
	}
	f := s.Get(req.Zone)
	if f == nil || f.Voter() {
		if !req.Clear {
			return nil // a mark only makes a failover more careful: take it unchecked
		}
		return api.Errorf(api.CodeUnavailable, "node %s holds no replica of zone %s now; retry", s.cfg.NodeID, req.Zone)
	}
	term := f.Replica().Raft().CurrentTerm()
	for _, m := range req.Marks {
		if m.Term > term {
			return api.Errorf(api.CodeInvalidArgument, "mark of user %d names term %d; zone %s is at term %d", m.User, m.Term, req.Zone, term)
		}
	}
	if !req.Clear {
		return nil
	}
	if req.Sweep > term {
		return api.Errorf(api.CodeInvalidArgument, "sweep below term %d; zone %s is at term %d", req.Sweep, req.Zone, term)
	}
	if len(req.Marks) > 0 || req.Sweep > 0 {
		if applied := f.FSM().AppliedIndex(); req.Watermark > applied {
			return api.Errorf(api.CodeInvalidArgument, "clear rests on index %d; this replica of zone %s has applied %d", req.Watermark, req.Zone, applied)
		}
	} else if last := f.Replica().Raft().LastIndex(); req.Watermark > last {
		return api.Errorf(api.CodeUnavailable, "watermark %d is past the end of zone %s's log here (%d); retry", req.Watermark, req.Zone, last)
	}
	return nil
}

// ReadGuard returns the marks of zone z held in h's group and the clear
// watermark, after a linearizable read (bounded by timeout) on h, which
// must lead its group.
func (h *Hosted) ReadGuard(ctx context.Context, z string, timeout time.Duration) (GuardInfo, error) {
	if err := h.Replica().Linearizable(ctx, timeout); err != nil {
		return GuardInfo{}, err
	}
	marks, err := h.FSM().Marks(z)
	if err != nil {
		return GuardInfo{}, err
	}
	if marks == nil {
		marks = []uint64{}
	}
	w, err := h.FSM().GuardWatermark(z)
	if err != nil {
		return GuardInfo{}, err
	}
	return GuardInfo{Zone: z, Marks: marks, Watermark: w}, nil
}

// ApplyMarks sets or clears, in the own zone, which this node must lead,
// the guard marks req carries for another zone, once CheckMarks takes them
// (meta as there). Without authentication it takes only what the marked
// zone's leader could send.
func (s *ReplicaSet) ApplyMarks(meta *fsm.Meta, req MarksRequest) error {
	c := req.Command()
	if err := c.Validate(); err != nil {
		return err
	}
	h, err := s.ownLeader("its zone")
	if err != nil {
		return err
	}
	if aerr := s.CheckMarks(h, meta, req); aerr != nil {
		return aerr
	}
	_, err = s.apply(h, c)
	return err
}

// ReadOwnGuard is ReadGuard on the own zone, which this node must lead.
func (s *ReplicaSet) ReadOwnGuard(ctx context.Context, z string, timeout time.Duration) (GuardInfo, error) {
	h, err := s.ownLeader("its zone")
	if err != nil {
		return GuardInfo{}, err
	}
	return h.ReadGuard(ctx, z, timeout)
}
