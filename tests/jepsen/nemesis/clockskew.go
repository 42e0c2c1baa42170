package nemesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// ClockSkew restarts the meta group's leader with its wall clock SkewBy
// ahead (a faultinject build's --inject clock-skew), and at the end
// restarts it again with its clock right. Leases are granted and failovers
// decided on the meta leader; while the skewed node leads (at the start of
// the fault, when it wins the meta group back, or after it), lease records
// and promotion decisions mix its clock with the others'. Only what a
// node measures on its own monotonic clock may keep a zone and its
// failover store from writing at once.
const ClockSkew = "clock-skew"

// SkewBy is how far ahead the clock-skew fault sets the meta leader's wall
// clock: longer than any lease, so that a decision comparing its clock
// with another node's is off by more than a lease.
const SkewBy = 5 * time.Second

// ClockCluster is what the clock-skew fault needs besides Cluster; a
// Cluster without it fails that fault.
type ClockCluster interface {
	// MetaLeaderID names the node that leads the meta group.
	MetaLeaderID(ctx context.Context) (string, error)
	// RestartInjected kills id and starts it again with fault added to
	// its --inject faults, for this run of its process only; it needs a
	// faultinject build.
	RestartInjected(ctx context.Context, id, fault string) error
}

// clockSkew restarts the meta leader with a skewed clock and returns what
// restarts it with its clock right.
func (n *Nemesis) clockSkew(ctx context.Context, op *history.Op) (func(context.Context) error, error) {
	cc, ok := n.C.(ClockCluster)
	if !ok {
		return nil, errors.New("clock-skew needs a cluster that can restart a node with injected faults")
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	id, err := cc.MetaLeaderID(lctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("find the meta leader: %w", err)
	}
	op.Targets = []string{id}
	op.Message = "wall clock +" + SkewBy.String()
	heal := func(ctx context.Context) error {
		if err := n.C.Kill(id); err != nil {
			return err
		}
		return n.C.Restart(ctx, id)
	}
	return heal, cc.RestartInjected(ctx, id, "clock-skew=+"+SkewBy.String())
}

// MetaLeaderID asks every running node for its replicas and names the one
// whose meta replica leads.
func (h harness) MetaLeaderID(ctx context.Context) (string, error) {
	for _, nd := range h.c.Nodes {
		if !nd.Running() || nd.Paused() {
			continue
		}
		var reps []api.ReplicaState
		if err := nd.GetJSON(ctx, "/v1/internal/replicas", &reps); err != nil {
			continue
		}
		for _, r := range reps {
			if r.Group == "meta" && r.State == "Leader" {
				return nd.ID, nil
			}
		}
	}
	return "", errors.New("no running node leads the meta group")
}

// RestartInjected kills node id and starts it again with fault added to
// its faults.
func (h harness) RestartInjected(ctx context.Context, id, fault string) error {
	nd, err := h.node(id)
	if err != nil {
		return err
	}
	if err := nd.Kill(); err != nil {
		return err
	}
	return nd.RestartInjected(ctx, fault)
}

var _ ClockCluster = harness{}
