package zone

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// Hosted is one replica of a zone group on this node, as the node's
// replica set (replicaset.go) keeps it: a Group with its state machine.
// The replica set makes it (Open); tests make their own (NewHosted).
type Hosted struct {
	zone  string
	rep   *Replica
	fsm   *fsm.FSM
	voter bool
	// ready is set once the zone's shard ownership matches the meta group's
	// route table (always, standalone); a voter serves writes only then.
	ready atomic.Bool
	// store is set for a failover store: a group made from this zone's
	// async follower of a failed zone (cluster mode).
	store bool
	// lease is the group's ownership lease as this node holds it
	// (cluster mode).
	lease Lease
	// guard keeps the guard marks of the own zone in its backup zone.
	guard GuardHolder
	// firstPaid is set once a failover store has accepted a payment.
	firstPaid atomic.Bool
}

// A hosted replica is a Group.
var _ Group = (*Hosted)(nil)

// NewHosted wraps an open replica rep of zone z with its state machine f.
// voter marks the node's own zone or a failover store it hosts; store a
// failover store.
func NewHosted(z string, rep *Replica, f *fsm.FSM, voter, store bool) *Hosted {
	return &Hosted{zone: z, rep: rep, fsm: f, voter: voter, store: store}
}

func (h *Hosted) Name() string        { return h.zone }
func (h *Hosted) Replica() *Replica   { return h.rep }
func (h *Hosted) Voter() bool         { return h.voter }
func (h *Hosted) Store() bool         { return h.store }
func (h *Hosted) Lease() *Lease       { return &h.lease }
func (h *Hosted) Guard() *GuardHolder { return &h.guard }

// FSM is the replica's state machine.
func (h *Hosted) FSM() *fsm.FSM { return h.fsm }

// SetReady records that the group's shard ownership is set up.
func (h *Hosted) SetReady() { h.ready.Store(true) }

// Ready reports whether the zone's shard ownership has been set up; once
// it is, it stays (it is replicated state). A failover store is ready only
// once its CmdFailover is applied: until then its state is the lost zone's
// replica, which still says it owns the zone's shards.
func (h *Hosted) Ready() bool {
	if h.ready.Load() {
		return true
	}
	if !h.fsm.Sharded() {
		return false
	}
	if h.store {
		if fi, err := h.fsm.Failover(); err != nil || fi == nil {
			return false
		}
	}
	h.ready.Store(true)
	return true
}

// FirstPayment reports whether this call is the first to note a payment
// accepted by the group (a failover store's first payment); it is true
// once per replica.
func (h *Hosted) FirstPayment() bool { return h.firstPaid.CompareAndSwap(false, true) }

// ExportReleased returns the records of shard, which h's group has
// released (at epoch, for the error's text), after a linearizable read
// (bounded by timeout) on h, which must lead its group; a failover store
// exports its own and the lost zone's records (fsm.FSM.ExportFailoverShard).
// A shard still owned is refused unavailable (an *api.Error).
func (h *Hosted) ExportReleased(ctx context.Context, shard int, epoch uint64, timeout time.Duration) ([]fsm.Record, error) {
	if err := h.Replica().Linearizable(ctx, timeout); err != nil {
		return nil, err
	}
	owned, _, err := h.FSM().Shards()
	if err != nil {
		return nil, err
	}
	if _, still := owned[shard]; still {
		return nil, api.Errorf(api.CodeUnavailable, "zone %s has not released shard %d at epoch %d yet", h.Name(), shard, epoch)
	}
	export := h.FSM().ExportShard
	if h.Store() {
		export = h.FSM().ExportFailoverShard
	}
	recs, err := export(shard)
	if err != nil {
		return nil, err
	}
	if recs == nil {
		recs = []fsm.Record{}
	}
	return recs, nil
}
