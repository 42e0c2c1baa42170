package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/clock"
	"github.com/rzonedb/rzone/scheduler/run"
	"github.com/rzonedb/rzone/zone"
)

// schedHost is the node as the batch scheduler's runtime (scheduler/run)
// sees it.
type schedHost struct{ n *Node }

var _ run.Host = schedHost{}

func (s schedHost) NodeID() string           { return s.n.cfg.NodeID }
func (s schedHost) Zone() string             { return s.n.cfg.Zone }
func (s schedHost) MetaState() fsm.MetaState { return s.n.metaFSM.State() }
func (s schedHost) MetaApply(ctx context.Context, c fsm.MetaCmd) (fsm.MetaResult, error) {
	return s.n.cluster.Apply(ctx, c)
}
func (s schedHost) IsMetaLeader() bool          { return s.n.meta.IsLeader() }
func (s schedHost) MetaTerm() uint64            { return s.n.meta.Raft().CurrentTerm() }
func (s schedHost) ApplyTimeout() time.Duration { return s.n.cfg.ApplyTimeout }

func (s schedHost) AliveNodes() int {
	alive := 1
	if s.n.gossip != nil {
		alive = max(1, len(s.n.gossip.Alive()))
	}
	return alive
}

func (s schedHost) MetaLeaderAddr() (string, error) { return s.n.cluster.LeaderAPIAddr() }

func (s schedHost) ZoneLeaderAddr(ctx context.Context, zone string) (string, error) {
	addr, err := s.n.zoneLeaderHTTP(ctx, zone)
	if err != nil {
		return "", err
	}
	if addr == "" {
		addr = s.n.cfg.httpAdvertise()
	}
	return addr, nil
}

func (s schedHost) PostJSON(ctx context.Context, addr, path string, req, reply any) error {
	return s.n.peer.PostJSON(ctx, addr, path, req, reply)
}

func (s schedHost) GetJSON(ctx context.Context, addr, path string, reply any) error {
	return s.n.peer.GetJSON(ctx, addr, path, reply)
}

func (s schedHost) LedGroups() []run.Group {
	var out []run.Group
	for _, h := range s.n.zones.Serving() {
		out = append(out, schedGroup{s.n, h})
	}
	return out
}

func (s schedHost) OwnUndelivered() uint64 {
	if f := s.n.FSM(); f != nil {
		return f.UndeliveredCount()
	}
	return 0
}

func (s schedHost) Done() <-chan struct{}             { return s.n.stop }
func (s schedHost) Logger() *slog.Logger              { return s.n.log }
func (s schedHost) Registerer() prometheus.Registerer { return s.n.metrics.Reg }
func (s schedHost) Now() time.Time                    { return clock.Now() }

// schedGroup is a zone group this node hosts, as the runtime sees it.
type schedGroup struct {
	n *Node
	h *zone.Hosted
}

var _ run.Group = schedGroup{}

func (g schedGroup) Name() string     { return g.h.Name() }
func (g schedGroup) Term() uint64     { return g.h.Replica().Raft().CurrentTerm() }
func (g schedGroup) LeaseValid() bool { return g.n.zones.LeaseValid(g.h) }
func (g schedGroup) Undelivered(max int) ([]api.Notification, error) {
	return g.h.FSM().Undelivered(max)
}
func (g schedGroup) Bill(user uint64, cycle uint32) (*api.Bill, error) {
	return g.h.FSM().Bill(user, cycle)
}
func (g schedGroup) Repayment(user uint64, key string) (*api.Repayment, error) {
	return g.h.FSM().Repayment(user, key)
}
func (g schedGroup) Apply(cmds ...fsm.Command) ([]fsm.Result, error) { return g.n.apply(g.h, cmds...) }
func (g schedGroup) ApplyGated(ctx context.Context, cmds ...fsm.Command) ([]fsm.Result, error) {
	return g.n.zones.ApplyGated(ctx, g.h, cmds...)
}
