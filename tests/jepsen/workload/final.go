package workload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rzonedb/rzone/tests/internal/httpapi"
	"github.com/rzonedb/rzone/tests/jepsen/history"
)

// finalProcess is the process of final reads.
const finalProcess = -3

// finalReads reads every user's account and every payment from each
// node's local replica, and records one final-read entry per node and user
// stamped with the node's applied index. The reads of a node are retried
// until its applied index is the same before and after them, so entries
// with equal indexes describe the same state. Every node is read: a node
// that cannot be read is recorded with a fail final-read entry per user
// (the checkers then say unknown) and named in the returned error. In a
// multi-zone cluster a node reads only the users of its own zone. The
// cluster should be healed and converged.
func finalReads(ctx context.Context, env *Env, workload string, all []uint64) error {
	var errs []error
	for _, n := range env.Nodes {
		users := all
		if env.ZoneOf != nil {
			users = nil
			for _, u := range all {
				if env.ZoneOf(u) == n.Zone {
					users = append(users, u)
				}
			}
			if len(users) == 0 {
				continue
			}
		}
		var err error
		for try := 0; try < 5 && ctx.Err() == nil; try++ {
			if err = finalReadNode(ctx, env, n, workload, users); err == nil {
				break
			}
			env.Logf("workload %s: final read on %s: %v", workload, n.ID, err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			for _, u := range users {
				env.Rec.Add(history.Op{Type: history.Fail, Process: finalProcess, F: history.FFinalRead, Workload: workload,
					Node: n.ID, User: u, Stale: true, Zone: env.zoneOf(u), Error: httpapi.Code(err), Message: trim(err.Error())})
			}
			errs = append(errs, fmt.Errorf("final read on %s: %w", n.ID, err))
		}
	}
	return errors.Join(errs...)
}

func finalReadNode(ctx context.Context, env *Env, n Node, workload string, users []uint64) error {
	before, err := n.API.Status(ctx)
	if err != nil {
		return err
	}
	var ops []history.Op
	for _, u := range users {
		a, err := n.API.GetAccount(ctx, u, true)
		if err != nil {
			return fmt.Errorf("account %d: %w", u, err)
		}
		ps, err := n.API.ListAllPayments(ctx, u, true, 1000)
		if err != nil {
			return fmt.Errorf("payments of %d: %w", u, err)
		}
		op := history.Op{Type: history.OK, Process: finalProcess, F: history.FFinalRead, Workload: workload,
			Node: n.ID, User: u, Stale: true, Account: accountOf(a), Applied: before.AppliedIndex, Zone: env.zoneOf(u),
			Payments: make([]history.Payment, 0, len(ps))}
		for _, p := range ps {
			op.Payments = append(op.Payments, history.Payment{Key: p.Key, Amount: p.Amount, Status: p.Status, LogIndex: p.Index})
		}
		ops = append(ops, op)
	}
	after, err := n.API.Status(ctx)
	if err != nil {
		return err
	}
	if after.AppliedIndex != before.AppliedIndex {
		return fmt.Errorf("applied index moved from %d to %d during the reads", before.AppliedIndex, after.AppliedIndex)
	}
	for _, op := range ops {
		env.Rec.Add(op)
	}
	return nil
}

// linearizableReads reads each user's account once, linearizably, through
// any node that answers, as a worker of process finalProcess would.
func linearizableReads(ctx context.Context, env *Env, workload string, users []uint64) {
	w := NewWorker(env, workload, finalProcess)
	w.Home = 0
	for _, u := range users {
		for try := 0; try < 2*len(env.Nodes); try++ {
			if _, ok := w.Read(ctx, u, false); ok || ctx.Err() != nil {
				break
			}
		}
	}
}
