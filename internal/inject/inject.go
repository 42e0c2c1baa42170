// Package inject names the deliberate faults that a test build of rzone can
// switch on to prove that the fault-test checkers catch real anomalies.
// Production builds (without the faultinject build tag) compile every
// injection point to a constant false.
//
// inject imports no other rzone package: every package may import it.
package inject

// Fault names accepted by Set.
const (
	// SkipIdempotency makes the state machine apply a replayed payment key
	// again instead of returning the original result.
	SkipIdempotency = "skip-idempotency"
	// StaleRead makes linearizable reads be served from the local replica
	// without forwarding to the leader or waiting for the commit index.
	StaleRead = "stale-read"
	// NoLeaseFence makes a zone leader accept writes without a valid
	// ownership lease.
	NoLeaseFence = "no-lease-fence"
	// ClockSkew, as "clock-skew=DURATION", shifts the node's wall clock.
	ClockSkew = "clock-skew"
	// ClockRate, as "clock-rate=FACTOR", makes the node's monotonic clock
	// run at FACTOR times real time (leases are measured with it).
	ClockRate = "clock-rate"
	// DropGuardMark makes a zone leader write without guard marks in its
	// backup zone, so a failover can miss accounts whose latest writes the
	// backup lacks (reconciliation reports them as violations).
	DropGuardMark = "drop-guard-mark"
	// FlakyDue makes a zone cut a third of the scheduler's due-user pages
	// short by one user, as a flaky read would: generation must notice.
	FlakyDue = "flaky-due"
	// DoubleNotify makes the state machine apply a statement or reminder
	// again when its (job, cycle, user) effect was already recorded: a
	// retried task or a second run writes the notification twice.
	DoubleNotify = "double-notify"
	// ZoneWinsMerge makes reconciliation keep the zone's decision on a key
	// that both the zone and the failover store decided, even where the
	// store's (the one its client received) differs.
	ZoneWinsMerge = "zone-wins-merge"
	// UnmarkedFailingOver makes a zone leader write without guard marks
	// once its meta replica shows the zone failing over, as if the lease
	// fence refused every such write: the writes its lease still lets it
	// acknowledge are then missing from the blacklist.
	UnmarkedFailingOver = "unmarked-failing-over"
	// RouteStoreHome makes the meta group let a shard move (or a move's
	// finish) route a failover store's shard to its home zone while the
	// zone's recovery is still merging the store: the shard goes home
	// unmerged, and the payments the store took are missing there.
	RouteStoreHome = "route-store-home"
)

// Known lists every fault name.
var Known = []string{SkipIdempotency, StaleRead, NoLeaseFence, ClockSkew, ClockRate, DropGuardMark, FlakyDue, DoubleNotify, ZoneWinsMerge, UnmarkedFailingOver, RouteStoreHome}
