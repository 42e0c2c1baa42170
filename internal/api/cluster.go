package api

// RouteTable is the body of GET /v1/routes: which zone owns each shard, at
// which epoch, and where each zone's leader answers.
type RouteTable struct {
	Epoch  uint64       `json:"epoch"`
	Shards []ShardRoute `json:"shards"`
	Zones  []ZoneRoute  `json:"zones"`
	// AdminToken is set only in the reply of the `cluster init` that
	// created a secure cluster: its first admin token, shown once.
	AdminToken string `json:"admin_token,omitempty"`
	// Operation is set only in the reply of `cluster init`: the
	// cluster_init operation the init recorded.
	Operation *Operation `json:"operation,omitempty"`
}

// ShardRoute is one shard's owner. Target is set while it moves.
type ShardRoute struct {
	Shard  int    `json:"shard"`
	Zone   string `json:"zone"`
	Epoch  uint64 `json:"epoch"`
	Target string `json:"target,omitempty"`
}

// ZoneRoute is where to send a zone's requests.
type ZoneRoute struct {
	Zone       string   `json:"zone"`
	Backup     string   `json:"backup"`
	Leader     string   `json:"leader"`
	LeaderHTTP string   `json:"leader_http"`
	Nodes      []string `json:"nodes"` // API addresses of the zone's voters
}

// ZoneStatus is the body of GET /v1/zones/{zone}.
type ZoneStatus struct {
	Zone       string         `json:"zone"`
	Backup     string         `json:"backup"`
	Leader     string         `json:"leader"`
	Term       uint64         `json:"term"`
	LastIndex  uint64         `json:"last_index"`
	Voters     []ReplicaState `json:"voters"`
	Followers  []ReplicaState `json:"followers"`
	LeaseUntil string         `json:"lease_until,omitempty"`
	LeaseValid bool           `json:"lease_valid"`
	Shards     []int          `json:"shards"`
	Epoch      uint64         `json:"epoch"`
	// Ready is set when the zone's leader serves writes: its shard
	// ownership is set up.
	Ready bool `json:"ready"`
	// Phase is the zone's failover phase: normal, failing_over, failover
	// or reconciling.
	Phase string `json:"phase"`
	// Failover describes the zone's latest failover, if it had one.
	Failover *ZoneFailover `json:"failover,omitempty"`
	// GuardGap is set while the zone re-establishes its guard marks after
	// its backup zone's failover; it cannot be failed over meanwhile.
	GuardGap bool `json:"guard_gap,omitempty"`
}

// ZoneFailover is a zone's latest failover, as GET /v1/zones/{zone} shows it.
type ZoneFailover struct {
	// Store is the failover store's group; Seed the backup node whose
	// async follower became it.
	Store string `json:"store,omitempty"`
	Seed  string `json:"seed,omitempty"`
	Auto  bool   `json:"auto"`
	// Times (RFC 3339): the failover was asked for; the zone's last lease
	// ended; the shards moved to the store; reconciliation began and ended.
	Started    string `json:"started"`
	LeaseUntil string `json:"lease_until,omitempty"`
	Promoted   string `json:"promoted,omitempty"`
	Recovering string `json:"recovering,omitempty"`
	Recovered  string `json:"recovered,omitempty"`
	// Blacklist is how many accounts are isolated, and Isolated the first
	// 1000 of them.
	Blacklist int      `json:"blacklist"`
	Isolated  []uint64 `json:"isolated,omitempty"`
	// Payments and Amount: what the store has accepted (while it serves).
	Payments int   `json:"payments"`
	Amount   int64 `json:"amount"`
	// Voided counts failover payments voided as duplicates at
	// reconciliation; Report is the reconciliation's report.
	Voided int              `json:"voided"`
	Report *ReconcileReport `json:"report,omitempty"`
}

// ReconcileReport sums up a reconciliation.
type ReconcileReport struct {
	Shards int `json:"shards"`
	// Taken counts accounts that took the store's state; Kept those that
	// kept the zone's (the blacklist, and any the guard missed).
	Taken int `json:"taken"`
	Kept  int `json:"kept"`
	// Merged counts store payments added to kept accounts.
	Merged int `json:"merged"`
	// Voided lists failover payments whose key the zone had accepted too.
	Voided []VoidedPayment `json:"voided,omitempty"`
	// Contradicted lists keys the zone and the store decided differently;
	// the store's decision stands.
	Contradicted []ContradictedKey `json:"contradicted,omitempty"`
	// Violations lists accounts off the blacklist whose zone state had
	// writes the store lacked (the guard-mark invariant broken).
	Violations []uint64 `json:"violations,omitempty"`
	// Unmerged counts store writes that could not be carried over.
	Unmerged   int   `json:"unmerged,omitempty"`
	DurationMs int64 `json:"duration_ms"`
}

// VoidedPayment is a failover payment dropped at reconciliation because its
// key was accepted in the zone as well: the zone's copy stands.
type VoidedPayment struct {
	User   uint64 `json:"user"`
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
	// ZoneAmount is the amount of the zone's copy (the one kept).
	ZoneAmount int64 `json:"zone_amount"`
}

// ContradictedKey is a payment key that the zone decided in its last,
// unreplicated writes (its client never got the answer) and the failover
// store decided otherwise when the client retried it there. The store's
// decision, the one the client received, stands; the zone's was undone.
type ContradictedKey struct {
	User  uint64   `json:"user"`
	Key   string   `json:"key"`
	Zone  Decision `json:"zone"`
	Store Decision `json:"store"`
}

// Decision is one side's decision on a payment key: its status (accepted,
// posted or declined), amount and the log index it was decided at.
type Decision struct {
	Status string `json:"status"`
	Amount int64  `json:"amount"`
	Index  uint64 `json:"index"`
}

// ReplicaState is one replica of a group as its node reports it.
type ReplicaState struct {
	Node          string `json:"node"`
	HTTPAddr      string `json:"http_addr,omitempty"`
	Group         string `json:"group"`
	State         string `json:"state"` // Leader, Follower, Candidate; "unreachable" if the node did not answer
	Voter         bool   `json:"voter"`
	AppliedIndex  uint64 `json:"applied_index"` // a zone replica's: what its state file holds (it does not go back on a restart)
	CommitIndex   uint64 `json:"commit_index"`
	LastIndex     uint64 `json:"last_index"`
	LastContactMs *int64 `json:"last_contact_ms,omitempty"` // since the leader was last heard from: 0 on the leader, absent if never
	Term          uint64 `json:"term"`
	// Ready is set once the zone's shard ownership is in its state.
	Ready bool `json:"ready"`
	// LagEntries is the group leader's applied index minus this replica's
	// (filled in by the zone status).
	LagEntries uint64 `json:"lag_entries"`
	// FailoverPayments and FailoverAmount: for a failover store's replica,
	// the payments it holds that the store accepted.
	FailoverPayments int   `json:"failover_payments,omitempty"`
	FailoverAmount   int64 `json:"failover_amount,omitempty"`
	// Digest is the replica's state digest (SHA-256, hex) at AppliedIndex,
	// given only when asked for (GET /v1/internal/replicas?digest=1): two
	// replicas of a group at the same applied index must agree on it.
	Digest string `json:"digest,omitempty"`
}

// ZoneList is the body of GET /v1/zones.
type ZoneList struct {
	Epoch uint64       `json:"epoch"`
	Zones []ZoneStatus `json:"zones"`
}

// MemberList is the body of GET /v1/members.
type MemberList struct {
	Members []MemberInfo `json:"members"`
	// DetectionTimeMs bounds how long after a node dies it is reported
	// dead, with this cluster's gossip timing and size.
	DetectionTimeMs int64 `json:"detection_time_ms"`
}

// MemberInfo is one gossip member.
type MemberInfo struct {
	ID       string   `json:"id"`
	Zone     string   `json:"zone"`
	Roles    []string `json:"roles"`
	HTTPAddr string   `json:"http_addr"`
	RaftAddr string   `json:"raft_addr"`
	Gossip   string   `json:"gossip_addr"`
	Capacity int      `json:"capacity"`
	State    string   `json:"state"`
	Since    string   `json:"since"`
}

// ConfigItem is one key of the cluster's versioned config store.
type ConfigItem struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Version uint64 `json:"version"`
}

// ConfigList is the body of GET /v1/config.
type ConfigList struct {
	Items []ConfigItem `json:"items"`
}

// SetConfigRequest is the body of PUT /v1/config/{key}. ExpectedVersion,
// when not zero, makes the write a compare-and-set.
type SetConfigRequest struct {
	Value           string `json:"value"`
	ExpectedVersion uint64 `json:"expected_version,omitempty"`
}

// MaxConfigValue is the largest config value, in bytes.
const MaxConfigValue = 16 << 10

// Validate checks a SetConfigRequest.
func (r *SetConfigRequest) Validate() error {
	if len(r.Value) > MaxConfigValue {
		return Errorf(CodeInvalidArgument, "value must be at most %d bytes", MaxConfigValue)
	}
	return nil
}

// Operation is a long admin operation (a zone's failover or recovery, a
// shard move, the cluster's init) as the meta group records it: the body
// of GET /v1/ops/{id}, and the reply (202) of the command that began it.
type Operation struct {
	ID string `json:"id"`
	// Kind is failover, recover, shard_move or cluster_init; Target the
	// zone, "shard N", or the cluster's zones.
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// From and To: a shard move's zones.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Phase is the step under way, "done" once it has finished; Progress
	// is in percent and Detail says what the step has done so far.
	Phase    string `json:"phase"`
	Progress int    `json:"progress"`
	Detail   string `json:"detail,omitempty"`
	Done     bool   `json:"done"`
	// Times (RFC 3339).
	Started  string `json:"started"`
	Updated  string `json:"updated"`
	Finished string `json:"finished,omitempty"`
	// Error is the last error its driver met; the driver goes on
	// retrying (an operation is never left half done).
	Error string `json:"error"`
	// Index is the meta log index of its latest change: GET /v1/ops/{id},
	// /v1/zones/{zone} and /v1/routes with ?after=Index answer from a
	// state that includes it.
	Index uint64 `json:"index"`
}

// OperationList is the body of GET /v1/ops: the operations under way and
// the latest finished ones, oldest first.
type OperationList struct {
	Operations []Operation `json:"operations"`
}

// LeaderMove is one group's leadership that a drain moved off a node.
type LeaderMove struct {
	// Group is "meta" or "zone/NAME" (a zone's group or a failover store).
	Group string `json:"group"`
	// To is the node that leads the group now; empty if the transfer
	// failed (Error says why).
	To    string `json:"to,omitempty"`
	Error string `json:"error,omitempty"`
}

// NodeDrain is the reply of POST /v1/nodes/{id}/drain and
// /v1/nodes/{id}/undrain.
type NodeDrain struct {
	Node    string `json:"node"`
	Drained bool   `json:"drained"`
	// Moved lists the groups the node led and the node each moved to
	// (drain); empty for an undrain, or a node that led nothing.
	Moved []LeaderMove `json:"moved"`
	// Index is the meta log index of the drain record.
	Index uint64 `json:"index"`
}

// NodeRemoval is the reply of POST /v1/nodes/{id}/remove.
type NodeRemoval struct {
	Node string `json:"node"`
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
