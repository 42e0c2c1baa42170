package api

// RouteTable is the body of GET /v1/routes: which zone owns each shard, at
// which epoch, and where each zone's leader answers.
type RouteTable struct {
	Epoch  uint64       `json:"epoch"`
	Shards []ShardRoute `json:"shards"`
	Zones  []ZoneRoute  `json:"zones"`
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
	// Phase is the zone's failover phase: normal today.
	Phase string `json:"phase"`
}

// ReplicaState is one replica of a group as its node reports it.
type ReplicaState struct {
	Node          string `json:"node"`
	HTTPAddr      string `json:"http_addr,omitempty"`
	Group         string `json:"group"`
	State         string `json:"state"` // Leader, Follower, Candidate; "unreachable" if the node did not answer
	Voter         bool   `json:"voter"`
	AppliedIndex  uint64 `json:"applied_index"`
	CommitIndex   uint64 `json:"commit_index"`
	LastIndex     uint64 `json:"last_index"`
	LastContactMs int64  `json:"last_contact_ms"` // -1: never heard from a leader
	Term          uint64 `json:"term"`
	// Ready is set once the zone's shard ownership is in its state.
	Ready bool `json:"ready"`
	// LagEntries is the group leader's applied index minus this replica's
	// (filled in by the zone status).
	LagEntries uint64 `json:"lag_entries"`
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
