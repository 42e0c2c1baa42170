package client

// Cluster, zone and node types: the replies of the admin calls. Times are
// RFC 3339 strings in UTC; amounts are int64 minor units.

// RouteTable says which zone owns each shard, at which epoch, and where
// each zone's leader answers (Routes, InitCluster, MoveShard).
type RouteTable struct {
	// Epoch is the table's version; it grows with every change.
	Epoch uint64 `json:"epoch"`
	// Shards are the shards' owners, indexed by shard number; a user's
	// shard is its id modulo len(Shards).
	Shards []ShardRoute `json:"shards"`
	// Zones says where to send each zone's requests.
	Zones []ZoneRoute `json:"zones"`
	// AdminToken is set only in the reply of the InitCluster that created
	// a secure cluster: its first admin token, shown once. Empty otherwise.
	AdminToken string `json:"admin_token,omitempty"`
	// Operation is set only in the reply of InitCluster: the cluster_init
	// operation the init recorded. Nil otherwise.
	Operation *Operation `json:"operation,omitempty"`
}

// ShardRoute is one shard's owner.
type ShardRoute struct {
	// Shard is the shard's number.
	Shard int `json:"shard"`
	// Zone is the zone that owns it.
	Zone string `json:"zone"`
	// Epoch is the route epoch at which it last changed hands.
	Epoch uint64 `json:"epoch"`
	// Target is the zone it is moving to; empty when it is not moving.
	Target string `json:"target,omitempty"`
}

// ZoneRoute is where to send a zone's requests.
type ZoneRoute struct {
	// Zone is the zone's name.
	Zone string `json:"zone"`
	// Backup is the zone that holds its async followers and takes over
	// its shards in a failover.
	Backup string `json:"backup"`
	// Leader is the node id of the zone's leader; empty if unknown.
	Leader string `json:"leader"`
	// LeaderHTTP is the leader's API address; empty if unknown.
	LeaderHTTP string `json:"leader_http"`
	// Nodes are the API addresses of the zone's voters.
	Nodes []string `json:"nodes"`
}

// ZoneStatus is one zone's status (Zone, FailoverZone, RecoverZone).
type ZoneStatus struct {
	// Zone is the zone's name.
	Zone string `json:"zone"`
	// Backup is its backup zone.
	Backup string `json:"backup"`
	// Leader is the node id of its leader; empty if unknown.
	Leader string `json:"leader"`
	// Term is the zone group's Raft term.
	Term uint64 `json:"term"`
	// LastIndex is the leader's last log index.
	LastIndex uint64 `json:"last_index"`
	// Voters are the zone group's voting replicas.
	Voters []ReplicaState `json:"voters"`
	// Followers are its async followers in the backup zone.
	Followers []ReplicaState `json:"followers"`
	// LeaseUntil is when the zone's ownership lease ends (RFC 3339);
	// empty if it holds none.
	LeaseUntil string `json:"lease_until,omitempty"`
	// LeaseValid is set while the lease has not ended.
	LeaseValid bool `json:"lease_valid"`
	// Shards are the numbers of the shards the zone owns.
	Shards []int `json:"shards"`
	// Epoch is the route epoch the status was read at.
	Epoch uint64 `json:"epoch"`
	// Ready is set when the zone's leader serves writes: its shard
	// ownership is set up.
	Ready bool `json:"ready"`
	// Phase is the zone's failover phase: normal, failing_over, failover
	// or reconciling.
	Phase string `json:"phase"`
	// Failover describes the zone's latest failover; nil if it had none.
	Failover *ZoneFailover `json:"failover,omitempty"`
	// GuardGap is set while the zone re-establishes its guard marks after
	// its backup zone's failover; it cannot be failed over meanwhile.
	GuardGap bool `json:"guard_gap,omitempty"`
}

// ZoneFailover is a zone's latest failover.
type ZoneFailover struct {
	// Store is the failover store's group; empty until it exists.
	Store string `json:"store,omitempty"`
	// Seed is the backup node whose async follower became the store;
	// empty until chosen.
	Seed string `json:"seed,omitempty"`
	// Auto is set when the failover was started by the cluster itself,
	// not by an operator.
	Auto bool `json:"auto"`
	// Started is when the failover was asked for (RFC 3339).
	Started string `json:"started"`
	// LeaseUntil is when the zone's last lease ended (RFC 3339); empty if
	// unknown.
	LeaseUntil string `json:"lease_until,omitempty"`
	// Promoted is when the shards moved to the store (RFC 3339); empty
	// until then.
	Promoted string `json:"promoted,omitempty"`
	// Recovering is when reconciliation began (RFC 3339); empty until
	// then.
	Recovering string `json:"recovering,omitempty"`
	// Recovered is when reconciliation ended (RFC 3339); empty until then.
	Recovered string `json:"recovered,omitempty"`
	// Blacklist is how many accounts are isolated.
	Blacklist int `json:"blacklist"`
	// Isolated lists the first 1000 isolated accounts' user ids.
	Isolated []uint64 `json:"isolated,omitempty"`
	// Payments is how many payments the store has accepted while it
	// serves.
	Payments int `json:"payments"`
	// Amount is their total, in minor units.
	Amount int64 `json:"amount"`
	// Voided counts failover payments voided as duplicates at
	// reconciliation.
	Voided int `json:"voided"`
	// Report is the reconciliation's report; nil until it ends.
	Report *ReconcileReport `json:"report,omitempty"`
}

// ReconcileReport sums up a reconciliation.
type ReconcileReport struct {
	// Shards is how many shards were reconciled.
	Shards int `json:"shards"`
	// Taken counts accounts that took the store's state.
	Taken int `json:"taken"`
	// Kept counts accounts that kept the zone's state (the blacklist, and
	// any the guard missed).
	Kept int `json:"kept"`
	// Merged counts store payments added to kept accounts.
	Merged int `json:"merged"`
	// Voided lists failover payments whose key the zone had accepted too.
	Voided []VoidedPayment `json:"voided,omitempty"`
	// Contradicted lists keys the zone and the store decided differently;
	// the store's decision stands.
	Contradicted []ContradictedKey `json:"contradicted,omitempty"`
	// Violations lists accounts off the blacklist whose zone state had
	// writes the store lacked (the guard-mark invariant broken); empty
	// when there were none.
	Violations []uint64 `json:"violations,omitempty"`
	// Unmerged counts store writes that could not be carried over.
	Unmerged int `json:"unmerged,omitempty"`
	// DurationMs is how long the reconciliation took, in milliseconds.
	DurationMs int64 `json:"duration_ms"`
}

// VoidedPayment is a failover payment dropped at reconciliation because its
// key was accepted in the zone as well: the zone's copy stands.
type VoidedPayment struct {
	// User is the payment's user id.
	User uint64 `json:"user"`
	// Key is its idempotency key.
	Key string `json:"key"`
	// Amount is the voided copy's amount, in minor units.
	Amount int64 `json:"amount"`
	// ZoneAmount is the amount of the zone's copy (the one kept), in minor
	// units.
	ZoneAmount int64 `json:"zone_amount"`
}

// ContradictedKey is a payment key that the zone decided in its last,
// unreplicated writes (its client never got the answer) and the failover
// store decided otherwise when the client retried it there. The store's
// decision, the one the client received, stands; the zone's was undone.
type ContradictedKey struct {
	// User is the payment's user id.
	User uint64 `json:"user"`
	// Key is its idempotency key.
	Key string `json:"key"`
	// Zone is the zone's (undone) decision.
	Zone Decision `json:"zone"`
	// Store is the store's decision, which stands.
	Store Decision `json:"store"`
}

// Decision is one side's decision on a payment key.
type Decision struct {
	// Status is accepted, posted or declined.
	Status string `json:"status"`
	// Amount is the payment's amount, in minor units.
	Amount int64 `json:"amount"`
	// Index is the log index it was decided at.
	Index uint64 `json:"index"`
}

// ReplicaState is one replica of a group as its node reports it.
type ReplicaState struct {
	// Node is the node's id.
	Node string `json:"node"`
	// HTTPAddr is its API address; empty if unknown.
	HTTPAddr string `json:"http_addr,omitempty"`
	// Group is the Raft group: "meta" or "zone/NAME".
	Group string `json:"group"`
	// State is Leader, Follower or Candidate; "unreachable" if the node
	// did not answer.
	State string `json:"state"`
	// Voter is set on a voting replica (not an async follower).
	Voter bool `json:"voter"`
	// AppliedIndex is the highest log index the replica has applied.
	AppliedIndex uint64 `json:"applied_index"`
	// CommitIndex is the highest log index it knows is committed.
	CommitIndex uint64 `json:"commit_index"`
	// LastIndex is its last log index.
	LastIndex uint64 `json:"last_index"`
	// LastContactMs is how long ago, in milliseconds, the replica last
	// heard from its leader: 0 on the leader, nil if never.
	LastContactMs *int64 `json:"last_contact_ms,omitempty"`
	// Term is its Raft term.
	Term uint64 `json:"term"`
	// Ready is set once the zone's shard ownership is in its state.
	Ready bool `json:"ready"`
	// LagEntries is the group leader's applied index minus this replica's.
	LagEntries uint64 `json:"lag_entries"`
	// FailoverPayments is, for a failover store's replica, how many of the
	// payments it holds the store accepted; 0 otherwise.
	FailoverPayments int `json:"failover_payments,omitempty"`
	// FailoverAmount is their total, in minor units.
	FailoverAmount int64 `json:"failover_amount,omitempty"`
	// Digest is the replica's state digest (SHA-256, hex) at AppliedIndex;
	// empty unless asked for. Two replicas of a group at the same applied
	// index must agree on it.
	Digest string `json:"digest,omitempty"`
}

// ZoneList is every zone's status (Zones).
type ZoneList struct {
	// Epoch is the route epoch the list was read at.
	Epoch uint64 `json:"epoch"`
	// Zones are the zones' statuses, in ring order.
	Zones []ZoneStatus `json:"zones"`
}

// MemberList is the gossip membership as one node sees it (Members).
type MemberList struct {
	// Members are the nodes gossip knows, live or not.
	Members []MemberInfo `json:"members"`
	// DetectionTimeMs bounds, in milliseconds, how long after a node dies
	// it is reported dead, with this cluster's gossip timing and size.
	DetectionTimeMs int64 `json:"detection_time_ms"`
}

// MemberInfo is one gossip member.
type MemberInfo struct {
	// ID is the node's id.
	ID string `json:"id"`
	// Zone is the node's zone.
	Zone string `json:"zone"`
	// Roles are what the node hosts, e.g. "voter:zone-A",
	// "follower:zone-C", "worker".
	Roles []string `json:"roles"`
	// HTTPAddr is its API address.
	HTTPAddr string `json:"http_addr"`
	// RaftAddr is its Raft address.
	RaftAddr string `json:"raft_addr"`
	// Gossip is its gossip address.
	Gossip string `json:"gossip_addr"`
	// Capacity is the number of scheduler worker slots the node offers.
	Capacity int `json:"capacity"`
	// State is alive, suspect, dead or left.
	State string `json:"state"`
	// Since is when the node entered State (RFC 3339).
	Since string `json:"since"`
}

// ConfigItem is one key of the cluster's versioned config store.
type ConfigItem struct {
	// Key is the config key.
	Key string `json:"key"`
	// Value is its value; at most 16 KiB.
	Value string `json:"value"`
	// Version grows by one with every write of the key; 0 for a key never
	// written.
	Version uint64 `json:"version"`
}

// Operation is a long admin operation (a zone's failover or recovery, a
// shard move, the cluster's init) as the meta group records it.
type Operation struct {
	// ID is the operation's id.
	ID string `json:"id"`
	// Kind is failover, recover, shard_move or cluster_init.
	Kind string `json:"kind"`
	// Target is the zone, "shard N", or the cluster's zones.
	Target string `json:"target"`
	// From is a shard move's source zone; empty for other kinds.
	From string `json:"from,omitempty"`
	// To is a shard move's destination zone; empty for other kinds.
	To string `json:"to,omitempty"`
	// Phase is the step under way, "done" once it has finished.
	Phase string `json:"phase"`
	// Progress is in percent, 0 to 100.
	Progress int `json:"progress"`
	// Detail says what the step has done so far; may be empty.
	Detail string `json:"detail,omitempty"`
	// Done is set once the operation has finished.
	Done bool `json:"done"`
	// Started is when it began (RFC 3339).
	Started string `json:"started"`
	// Updated is when it last changed (RFC 3339).
	Updated string `json:"updated"`
	// Finished is when it finished (RFC 3339); empty until then.
	Finished string `json:"finished,omitempty"`
	// Error is the last error its driver met; empty if none. The driver
	// goes on retrying (an operation is never left half done).
	Error string `json:"error"`
	// Index is the meta log index of its latest change: Op, Zone and
	// Routes read after it see a state that includes it.
	Index uint64 `json:"index"`
}

// OperationList is the reply of Ops: the operations under way and the
// latest finished ones, oldest first.
type OperationList struct {
	// Operations are the operations, oldest first.
	Operations []Operation `json:"operations"`
}

// LeaderMove is one group's leadership that a drain moved off a node.
type LeaderMove struct {
	// Group is "meta" or "zone/NAME" (a zone's group or a failover store).
	Group string `json:"group"`
	// To is the node that leads the group now; empty if the transfer
	// failed (Error says why).
	To string `json:"to,omitempty"`
	// Error says why the transfer failed; empty if it did not.
	Error string `json:"error,omitempty"`
}

// NodeDrain is the reply of DrainNode and UndrainNode.
type NodeDrain struct {
	// Node is the node's id.
	Node string `json:"node"`
	// Drained is set while the node is drained.
	Drained bool `json:"drained"`
	// Moved lists the groups the node led and the node each moved to
	// (drain); empty for an undrain, or a node that led nothing.
	Moved []LeaderMove `json:"moved"`
	// Index is the meta log index of the drain record.
	Index uint64 `json:"index"`
}

// NodeRemoval is the reply of RemoveNode.
type NodeRemoval struct {
	// Node is the removed node's id.
	Node string `json:"node"`
	// Zone is its zone.
	Zone string `json:"zone"`
	// Groups are the groups the node leaves: its zone's ("zone/NAME"),
	// "meta", and the zones it followed asynchronously. The leaders of
	// those groups take it out of their configurations.
	Groups []string `json:"groups"`
	// MetaVoter is the spare node that takes the removed node's vote in
	// the meta group; empty if it had none or no spare was left.
	MetaVoter string `json:"meta_voter,omitempty"`
	// Index is the meta log index of the removal.
	Index uint64 `json:"index"`
}

// Run is a batch run's state and progress (StartRun, GetRun, Runs).
type Run struct {
	// ID is the run's id.
	ID uint64 `json:"id"`
	// Job is statement, reminder or autodebit.
	Job string `json:"job"`
	// Cycle is the billing cycle it runs for (YYYYMM).
	Cycle string `json:"cycle"`
	// State is running, done or cancelled.
	State string `json:"state"`
	// CreatedAt is when it started (RFC 3339).
	CreatedAt string `json:"created_at"`
	// FinishedAt is when it ended (RFC 3339); empty while it runs.
	FinishedAt string `json:"finished_at,omitempty"`
	// Ranges is the number of ranges (shards) to scan.
	Ranges int `json:"ranges"`
	// Generated is how many ranges have been loaded, verified and cut
	// into tasks.
	Generated int `json:"generated"`
	// TasksDone counts finished tasks of the generated ranges.
	TasksDone int64 `json:"tasks_done"`
	// TasksTotal counts all tasks of the generated ranges.
	TasksTotal int64 `json:"tasks_total"`
	// TasksOpen counts tasks waiting for a worker.
	TasksOpen int `json:"tasks_open"`
	// TasksLeased counts tasks a worker holds now.
	TasksLeased int `json:"tasks_leased"`
	// UsersDone counts due users of the generated ranges already handled.
	UsersDone int64 `json:"users_done"`
	// UsersTotal counts due users of the generated ranges.
	UsersTotal int64 `json:"users_total"`
	// Skipped counts users found not due when their effect ran.
	Skipped int64 `json:"skipped"`
	// Failures counts failed effect attempts (each was retried).
	Failures int64 `json:"failures"`
	// GenFailures counts failed generation attempts.
	GenFailures int64 `json:"gen_failures"`
	// Expired counts task leases that ran out or were voided by a new
	// scheduler leader.
	Expired int64 `json:"expired"`
	// Fenced counts refused late reports.
	Fenced int64 `json:"fenced"`
	// Limit is the concurrency limit in force for the run's downstream,
	// in leased tasks; 0 when the scheduler leader is unknown.
	Limit int `json:"limit"`
	// UsersPerSecond is the run's throughput over its life so far.
	UsersPerSecond float64 `json:"users_per_second"`
	// Gray is set when the run has a gray release (whitelist and window).
	Gray bool `json:"gray,omitempty"`
	// GrayActive is set while the gray release restricts the run.
	GrayActive bool `json:"gray_active,omitempty"`
}

// RunList is the reply of Runs, newest first.
type RunList struct {
	// Runs are the runs, newest first.
	Runs []Run `json:"runs"`
}

// Token describes an API token (CreateToken, Tokens).
type Token struct {
	// ID is the token's id, the one RevokeToken takes.
	ID string `json:"id"`
	// Role is metrics, reader, app or admin.
	Role string `json:"role"`
	// Name is the name given at its creation; may be empty.
	Name string `json:"name"`
	// CreatedMs is when it was made, in Unix milliseconds.
	CreatedMs int64 `json:"created_ms"`
	// ExpiresMs is when it ends, in Unix milliseconds; 0 means never.
	ExpiresMs int64 `json:"expires_ms,omitempty"`
	// Token is the secret, set only in CreateToken's answer; empty
	// otherwise (the cluster keeps only its hash).
	Token string `json:"token,omitempty"`
}
