package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/inject"
)

// MetaState is the meta group's state: the route table with its epoch, the
// zones and their backup zones, the nodes, the zones' ownership leases and a
// versioned config store. It is small and kept in memory; snapshots are its
// JSON encoding.
type MetaState struct {
	Initialized bool `json:"initialized"`
	// ClusterID names the cluster: set by its init (or a restore, which
	// makes a new cluster), empty in clusters initialized before it
	// existed. Backups carry it.
	ClusterID string `json:"cluster_id,omitempty"`
	// Epoch grows on every change of the route table.
	Epoch  uint64       `json:"epoch"`
	Zones  []ZoneInfo   `json:"zones"`  // by name
	Nodes  []NodeInfo   `json:"nodes"`  // by id
	Shards []ShardRoute `json:"shards"` // index = shard
	Leases []Lease      `json:"leases"` // by zone
	Config []ConfigItem `json:"config"` // by key
	// Tokens are the API tokens by id (meta_tokens.go).
	Tokens []Token `json:"tokens,omitempty"`
	// Sched holds the scheduler's runs (meta_sched.go); copy-on-write.
	Sched *SchedState `json:"sched,omitempty"`
	// Ops are the long admin operations, in the order they began
	// (meta_ops.go).
	Ops []Op `json:"ops,omitempty"`
	// RemovedNodes are the ids of the nodes removed from the cluster,
	// sorted (meta_nodes.go): none may join again under its id.
	RemovedNodes []string `json:"removed_nodes,omitempty"`
}

// ZoneInfo is one zone and the zone that hosts its async followers and takes
// its traffic on failover.
type ZoneInfo struct {
	Name   string `json:"name"`
	Backup string `json:"backup"`
	// Phase is the zone's failover phase ("" is PhaseNormal) and Failover
	// the latest failover's state (kept after it ends, for its report).
	Phase    string         `json:"phase,omitempty"`
	Failover *FailoverState `json:"failover,omitempty"`
	// GuardGap is set when this zone wrote without guard marks because its
	// backup zone was failed over; until the zone's leader has raised its
	// clear watermark past those writes (MetaGuardReady), the zone cannot
	// be failed over.
	GuardGap bool `json:"guard_gap,omitempty"`
}

// NodeInfo is a node's identity and addresses.
type NodeInfo struct {
	ID       string `json:"id"`
	Zone     string `json:"zone"`
	HTTPAddr string `json:"http_addr"`
	RaftAddr string `json:"raft_addr"`
	// MetaVoter is set for the nodes that vote in the meta group.
	MetaVoter bool `json:"meta_voter"`
	// Drained is set for a drained node: it leads no group (it hands
	// off any leadership it gets) and takes no scheduler task.
	Drained bool `json:"drained,omitempty"`
}

// ShardRoute says which zone owns a shard, and since which epoch.
type ShardRoute struct {
	Zone  string `json:"zone"`
	Epoch uint64 `json:"epoch"`
	// Target is set while the shard moves to another zone.
	Target string `json:"target,omitempty"`
}

// Lease is a zone's ownership lease. Until is in log time (Unix ms); the
// zone's leader holds it from its own clock for a little less.
type Lease struct {
	Zone   string `json:"zone"`
	Holder string `json:"holder"` // node id of the zone leader that renewed it last
	Term   uint64 `json:"term"`   // that leader's Raft term in the zone group
	// Until is the granting meta leader's wall-clock time plus the
	// duration (Unix ms): for display and for the automatic failover's
	// "lost for a while" test. Safety never rests on it, since meta
	// leaders' wall clocks need not agree.
	Until int64 `json:"until"`
	// Grants counts the renewals granted. A node that sees a new count
	// knows a grant was applied no later than that moment, by its own
	// monotonic clock; the holder's lease, counted from before it asked,
	// ends within DurationMs of that moment (zone/lease.go).
	Grants uint64 `json:"grants,omitempty"`
	// DurationMs is the longest duration granted, in milliseconds.
	DurationMs int64 `json:"duration_ms,omitempty"`
}

// ConfigItem is one key of the config store.
type ConfigItem struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Version uint64 `json:"version"`
}

// MetaCmd types. Their numbers are part of the log format.
const (
	MetaInit        byte = 1
	MetaRenewLease  byte = 2
	MetaSetConfig   byte = 3
	MetaMoveShard   byte = 4
	MetaFinishMove  byte = 5
	MetaSetNodeAddr byte = 6

	MetaFailover      byte = 7  // begin failing a zone over to its backup
	MetaPromote       byte = 8  // route a failed-over zone's shards to its failover store
	MetaRecover       byte = 9  // begin reconciliation: the store releases the shards
	MetaFinishRecover byte = 10 // route the shards back to the zone
	MetaGuardReady    byte = 11 // a zone's guard marks in its backup zone are whole again
)

// MetaCmd is one meta group command; which fields matter depends on Type.
type MetaCmd struct {
	Type byte  `json:"type"`
	Time int64 `json:"time"` // stamped by the proposing leader, Unix ms

	// MetaInit
	Zones     []ZoneInfo `json:"zones,omitempty"`
	Nodes     []NodeInfo `json:"nodes,omitempty"`
	ClusterID string     `json:"cluster_id,omitempty"`
	// MetaRenewLease
	Zone       string `json:"zone,omitempty"`
	Holder     string `json:"holder,omitempty"`
	Term       uint64 `json:"term,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
	// MetaSetConfig
	Key             string `json:"key,omitempty"`
	Value           string `json:"value,omitempty"`
	ExpectedVersion uint64 `json:"expected_version,omitempty"` // 0 = any
	// MetaMoveShard, MetaFinishMove
	Shard  int    `json:"shard,omitempty"`
	Target string `json:"target,omitempty"`
	// MetaSetNodeAddr, MetaAddNode
	Node *NodeInfo `json:"node,omitempty"`
	// MetaRemoveNode, MetaDrainNode (meta_nodes.go)
	NodeID  string `json:"node_id,omitempty"`
	Undrain bool   `json:"undrain,omitempty"`
	// MetaFailover, MetaPromote, MetaRecover, MetaFinishRecover (Zone too)
	Auto      bool            `json:"auto,omitempty"`
	Group     string          `json:"group,omitempty"`
	Seed      string          `json:"seed,omitempty"`
	Blacklist []uint64        `json:"blacklist,omitempty"`
	Report    *FailoverReport `json:"report,omitempty"`
	// LeaseGrants (MetaPromote) is the zone lease's grant count whose end
	// the proposer waited out; nil in entries written before it existed.
	LeaseGrants *uint64 `json:"lease_grants,omitempty"`
	// MetaSched* (meta_sched.go)
	Sched *SchedCmd `json:"sched,omitempty"`
	// MetaTokenCreate, MetaTokenRevoke (meta_tokens.go)
	Token   *Token `json:"token,omitempty"`
	TokenID string `json:"token_id,omitempty"`
	// OpID (MetaInit, MetaMoveShard, MetaFailover, MetaRecover) names the
	// operation the command begins; OpUpdate is MetaOpUpdate's payload
	// (meta_ops.go).
	OpID     string    `json:"op_id,omitempty"`
	OpUpdate *OpUpdate `json:"op_update,omitempty"`

	// index is the command's log index, set by apply (not encoded).
	index uint64
}

// MetaResult is the outcome of one meta command. Err is empty on success.
type MetaResult struct {
	Err string
	// Invalid is set, with Err, when the command failed Validate: it was
	// malformed, not refused by the state.
	Invalid bool `json:",omitempty"`

	Epoch uint64
	Lease Lease
	Item  ConfigItem
	Sched *SchedResult `json:",omitempty"`
	// Op is the operation the command began, changed or finished.
	Op *Op `json:",omitempty"`
	// Index is the command's log index: a read after it sees its effect.
	Index uint64 `json:",omitempty"`
	// Created is a new token's creation time (MetaTokenCreate), and
	// MetaVoter the node that took a removed meta voter's place
	// (MetaRemoveNode): the reply to the write shows them whatever the
	// answering node's replica has applied.
	Created   int64  `json:",omitempty"`
	MetaVoter string `json:",omitempty"`
}

// EncodeMeta encodes a meta command as a log entry.
func EncodeMeta(c MetaCmd) []byte {
	b, _ := json.Marshal(c)
	return append([]byte{EntryVersion}, b...)
}

// DecodeMeta parses a meta log entry.
func DecodeMeta(data []byte) (MetaCmd, error) {
	var c MetaCmd
	if len(data) == 0 {
		return c, fmt.Errorf("%w: empty meta entry", ErrMalformed)
	}
	if data[0] != EntryVersion {
		return c, fmt.Errorf("%w: %d", ErrUnknownVersion, data[0])
	}
	if err := json.Unmarshal(data[1:], &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return c, nil
}

// Meta is the meta group's state machine. Raft calls its FSM methods from
// one goroutine; State may be called concurrently.
type Meta struct {
	log *slog.Logger

	mu      sync.RWMutex
	st      MetaState
	applied appliedIndex
}

var _ raft.BatchingFSM = (*Meta)(nil)

// NewMeta returns an empty meta state machine.
func NewMeta(log *slog.Logger) *Meta {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Meta{log: log}
}

// State returns a deep copy of the state.
func (m *Meta) State() MetaState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.st.clone()
}

// Route is State().Route without copying the state (the write path asks
// it for every request); ok is false before the cluster is initialized.
func (m *Meta) Route(user uint64) (zone string, epoch uint64, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.st.Initialized {
		return "", 0, false
	}
	zone, epoch = m.st.Route(user)
	return zone, epoch, true
}

// ZoneBrief is what the write path needs of a zone, read without copying
// the state: its backup zone, its phase and its backup zone's phase, and
// whether it has a guard gap to close.
func (m *Meta) ZoneBrief(name string) (backup, phase, backupPhase string, gap, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	z, ok := m.st.zone(name)
	b, _ := m.st.zone(z.Backup)
	return z.Backup, z.PhaseOf(), b.PhaseOf(), z.GuardGap, ok
}

func (s MetaState) clone() MetaState {
	s.Zones = slices.Clone(s.Zones)
	for i := range s.Zones {
		if f := s.Zones[i].Failover; f != nil {
			c := *f
			c.Blacklist = slices.Clone(f.Blacklist)
			if f.Report != nil {
				r := *f.Report
				r.Voided = slices.Clone(r.Voided)
				r.Contradicted = slices.Clone(r.Contradicted)
				r.Violations = slices.Clone(r.Violations)
				c.Report = &r
			}
			s.Zones[i].Failover = &c
		}
	}
	s.Nodes = slices.Clone(s.Nodes)
	s.Shards = slices.Clone(s.Shards)
	s.Leases = slices.Clone(s.Leases)
	s.Config = slices.Clone(s.Config)
	s.Tokens = slices.Clone(s.Tokens)
	s.Ops = slices.Clone(s.Ops)
	s.RemovedNodes = slices.Clone(s.RemovedNodes)
	return s
}

// AppliedIndex is the last applied log index.
func (m *Meta) AppliedIndex() uint64 { return m.applied.load() }

// WaitApplied blocks until the applied index reaches index or done closes.
func (m *Meta) WaitApplied(done <-chan struct{}, index uint64) bool {
	return m.applied.wait(done, index)
}

// Apply applies one entry.
func (m *Meta) Apply(l *raft.Log) any { return m.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies entries in order; a command entry's result is a
// MetaResult.
func (m *Meta) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, l := range logs {
		if l.Index <= m.applied.load() {
			continue
		}
		if l.Type == raft.LogCommand {
			c, err := DecodeMeta(l.Data)
			switch {
			case err == nil:
				c.index = l.Index
				res := m.st.apply(&c)
				res.Index = l.Index
				out[i] = res
			case isMalformed(err):
				out[i] = MetaResult{Err: err.Error()}
			default:
				// Only a newer version byte gets here: rzone writes it,
				// never a request (EncodeMeta stamps this version), so it
				// is an upgrade order mistake, and applying around it
				// would diverge.
				panic(fmt.Sprintf("fsm: meta entry %d: %v (upgrade this node)", l.Index, err))
			}
		}
		m.applied.set(l.Index)
	}
	return out
}

func isMalformed(err error) bool { return errors.Is(err, ErrMalformed) }

// apply applies one command. An unknown type that is marked ignorable is
// skipped; any other command that fails Validate is answered Invalid and
// changes nothing: its content may have come from a request, and a panic
// here would stop every replica on every restart.
func (s *MetaState) apply(c *MetaCmd) MetaResult {
	if err := c.Validate(); err != nil {
		if c.Type&byte(IgnorableFlag) != 0 {
			return MetaResult{}
		}
		return MetaResult{Err: err.Error(), Invalid: true}
	}
	switch c.Type {
	case MetaInit:
		return s.init(c)
	case MetaRenewLease:
		return s.renewLease(c)
	case MetaSetConfig:
		return s.setConfig(c)
	case MetaMoveShard:
		return s.moveShard(c)
	case MetaFinishMove:
		return s.finishMove(c)
	case MetaFailover:
		return s.failover(c)
	case MetaPromote:
		return s.promote(c)
	case MetaRecover:
		return s.recover(c)
	case MetaFinishRecover:
		return s.finishRecover(c)
	case MetaGuardReady:
		return s.guardReady(c)
	case MetaSchedCreateRun, MetaSchedGenerated, MetaSchedGenFailed, MetaSchedLease, MetaSchedRenew,
		MetaSchedComplete, MetaSchedExpire, MetaSchedResume, MetaSchedCancel:
		return s.schedApply(c)
	case MetaTokenCreate, MetaTokenRevoke:
		return s.tokenApply(c)
	case MetaOpUpdate:
		return s.updateOp(c)
	case MetaAddNode:
		return s.addNode(c)
	case MetaRemoveNode:
		return s.removeNode(c)
	case MetaDrainNode:
		return s.drainNode(c)
	case MetaSetNodeAddr:
		if c.Node == nil {
			return MetaResult{Err: "node missing"}
		}
		i, ok := slices.BinarySearchFunc(s.Nodes, c.Node.ID, func(n NodeInfo, id string) int { return cmpString(n.ID, id) })
		if ok {
			s.Nodes[i] = *c.Node
		} else {
			s.Nodes = slices.Insert(s.Nodes, i, *c.Node)
		}
		return MetaResult{Epoch: s.Epoch}
	}
	// Validate refuses every type not handled above.
	panic(fmt.Sprintf("fsm: meta command %d passed Validate but has no apply (a bug in rzone)", c.Type))
}

func (s *MetaState) init(c *MetaCmd) MetaResult {
	if s.Initialized {
		return MetaResult{Err: "cluster already initialized", Epoch: s.Epoch}
	}
	if len(c.Zones) == 0 {
		return MetaResult{Err: "no zones"}
	}
	zones := slices.Clone(c.Zones)
	slices.SortFunc(zones, func(a, b ZoneInfo) int { return cmpString(a.Name, b.Name) })
	nodes := slices.Clone(c.Nodes)
	slices.SortFunc(nodes, func(a, b NodeInfo) int { return cmpString(a.ID, b.ID) })
	s.Initialized = true
	s.ClusterID = c.ClusterID
	s.Epoch = 1
	s.Zones = zones
	s.Nodes = nodes
	if c.Token != nil {
		t := *c.Token
		t.Created = c.Time
		s.Tokens = []Token{t}
	}
	s.Shards = make([]ShardRoute, NumShards)
	for i := range s.Shards {
		// Even spread: shard i to zone i mod len(zones).
		s.Shards[i] = ShardRoute{Zone: zones[i%len(zones)].Name, Epoch: 1}
	}
	names := make([]string, len(zones))
	for i, z := range zones {
		names[i] = z.Name
	}
	op := s.startOp(c, Op{Kind: OpClusterInit, Target: strings.Join(names, ","), Phase: OpDone,
		Detail: fmt.Sprintf("%d zones, %d nodes", len(zones), len(nodes))})
	return MetaResult{Epoch: s.Epoch, Op: op}
}

func (s MetaState) zone(name string) (ZoneInfo, bool) {
	for _, z := range s.Zones {
		if z.Name == name {
			return z, true
		}
	}
	return ZoneInfo{}, false
}

func (s *MetaState) renewLease(c *MetaCmd) MetaResult {
	if z, ok := s.zone(c.Zone); ok {
		if z.Phase != "" && z.Phase != PhaseNormal {
			return MetaResult{Err: fmt.Sprintf("zone %s is %s: its shards are not its own until it is reconciled", c.Zone, z.Phase)}
		}
	} else if _, ok := s.StoreOf(c.Zone); !ok {
		return MetaResult{Err: fmt.Sprintf("no zone %q", c.Zone)}
	}
	if c.DurationMs <= 0 {
		return MetaResult{Err: "lease duration must be positive"}
	}
	i, ok := slices.BinarySearchFunc(s.Leases, c.Zone, func(l Lease, z string) int { return cmpString(l.Zone, z) })
	if !ok {
		s.Leases = slices.Insert(s.Leases, i, Lease{Zone: c.Zone})
	}
	l := &s.Leases[i]
	if c.Term < l.Term && c.Time <= l.Until {
		return MetaResult{Err: fmt.Sprintf("lease of %s is held by term %d", c.Zone, l.Term), Lease: *l}
	}
	l.Holder, l.Term = c.Holder, c.Term
	l.Until = max(l.Until, c.Time+c.DurationMs)
	l.Grants++
	l.DurationMs = max(l.DurationMs, c.DurationMs)
	s.noteHome(c)
	return MetaResult{Lease: *l, Epoch: s.Epoch}
}

func (s *MetaState) setConfig(c *MetaCmd) MetaResult {
	if c.Key == "" {
		return MetaResult{Err: "config key is empty"}
	}
	i, ok := slices.BinarySearchFunc(s.Config, c.Key, func(it ConfigItem, k string) int { return cmpString(it.Key, k) })
	if !ok {
		s.Config = slices.Insert(s.Config, i, ConfigItem{Key: c.Key})
	}
	it := &s.Config[i]
	if c.ExpectedVersion != 0 && c.ExpectedVersion != it.Version {
		return MetaResult{Err: fmt.Sprintf("config %q is at version %d, not %d", c.Key, it.Version, c.ExpectedVersion), Item: *it}
	}
	it.Value = c.Value
	it.Version++
	return MetaResult{Item: *it}
}

func (s *MetaState) moveShard(c *MetaCmd) MetaResult {
	if c.Shard < 0 || c.Shard >= len(s.Shards) {
		return MetaResult{Err: fmt.Sprintf("no shard %d", c.Shard)}
	}
	if _, ok := s.zone(c.Target); !ok {
		return MetaResult{Err: fmt.Sprintf("no zone %q", c.Target)}
	}
	r := &s.Shards[c.Shard]
	if z, ok := s.recovering(r.Zone); ok {
		// The shard's Target is the recovery's, not a move's: a move
		// "already there" would route the store's shard home unmerged.
		return MetaResult{Err: fmt.Sprintf("shard %d is in failover store %s, which the recovery of zone %s is merging; moves wait for reconciliation", c.Shard, r.Zone, z)}
	}
	move := Op{Kind: OpShardMove, Target: ShardTarget(c.Shard), Shard: c.Shard, From: r.Zone, To: c.Target, Phase: MovePhaseReleasing, Progress: 5}
	switch {
	case r.Target == c.Target:
		return MetaResult{Epoch: s.Epoch, Op: s.existingOp(c, move)} // already moving there
	case r.Target != "":
		return MetaResult{Err: fmt.Sprintf("shard %d is already moving to %s", c.Shard, r.Target)}
	case r.Zone == c.Target:
		return MetaResult{Err: fmt.Sprintf("shard %d is already in %s", c.Shard, c.Target)}
	}
	if z, ok := s.zone(r.Zone); !ok || (z.Phase != "" && z.Phase != PhaseNormal) {
		return MetaResult{Err: fmt.Sprintf("shard %d is in %s, which is failed over; moves wait for reconciliation", c.Shard, r.Zone)}
	}
	if z, _ := s.zone(c.Target); z.Phase != "" && z.Phase != PhaseNormal {
		return MetaResult{Err: fmt.Sprintf("zone %s is %s", c.Target, z.Phase)}
	}
	s.Epoch++
	r.Target, r.Epoch = c.Target, s.Epoch
	return MetaResult{Epoch: s.Epoch, Op: s.startOp(c, move)}
}

func (s *MetaState) finishMove(c *MetaCmd) MetaResult {
	if c.Shard < 0 || c.Shard >= len(s.Shards) {
		return MetaResult{Err: fmt.Sprintf("no shard %d", c.Shard)}
	}
	r := &s.Shards[c.Shard]
	if z, ok := s.recovering(r.Zone); ok {
		// Only the recovery routes a failover store's shards home, once
		// they are merged (finishRecover).
		return MetaResult{Err: fmt.Sprintf("shard %d is in failover store %s, which the recovery of zone %s is merging; it is routed home when that ends", c.Shard, r.Zone, z)}
	}
	if r.Target == "" {
		if r.Zone == c.Target {
			// Finished before: an operation left unfinished (its
			// driver routed the shard and died) ends here.
			return MetaResult{Epoch: s.Epoch, Op: s.finishOp(c, OpShardMove, ShardTarget(c.Shard), "")}
		}
		return MetaResult{Err: fmt.Sprintf("shard %d is not moving", c.Shard)}
	}
	if r.Target != c.Target {
		return MetaResult{Err: fmt.Sprintf("shard %d moves to %s, not %s", c.Shard, r.Target, c.Target)}
	}
	s.Epoch++
	*r = ShardRoute{Zone: c.Target, Epoch: s.Epoch}
	return MetaResult{Epoch: s.Epoch, Op: s.finishOp(c, OpShardMove, ShardTarget(c.Shard), "routed to "+c.Target)}
}

// recovering names the zone whose recovery is merging failover store
// group, if one is.
func (s *MetaState) recovering(group string) (string, bool) {
	if inject.On(inject.RouteStoreHome) {
		return "", false
	}
	for _, z := range s.Zones {
		if z.PhaseOf() == PhaseReconciling && z.Failover != nil && z.Failover.Group == group {
			return z.Name, true
		}
	}
	return "", false
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Snapshot captures the state as JSON.
func (m *Meta) Snapshot() (raft.FSMSnapshot, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	data, err := json.Marshal(metaSnapshot{Applied: m.applied.load(), State: m.st})
	if err != nil {
		return nil, err
	}
	return metaSnap(data), nil
}

type metaSnapshot struct {
	Applied uint64    `json:"applied"`
	State   MetaState `json:"state"`
}

type metaSnap []byte

func (s metaSnap) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (s metaSnap) Release() {}

// Restore replaces the state with a snapshot's.
func (m *Meta) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var snap metaSnapshot
	if err := json.NewDecoder(rc).Decode(&snap); err != nil {
		return fmt.Errorf("restore meta: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = snap.State
	m.applied.set(snap.Applied)
	return nil
}

// Route returns the zone that owns user's shard (its move target is not the
// owner until the move finishes) and the route epoch.
func (s MetaState) Route(user uint64) (zone string, epoch uint64) {
	if len(s.Shards) == 0 {
		return "", s.Epoch
	}
	return s.Shards[user%uint64(len(s.Shards))].Zone, s.Epoch
}

// Lease returns the lease of zone.
func (s MetaState) Lease(zone string) (Lease, bool) {
	for _, l := range s.Leases {
		if l.Zone == zone {
			return l, true
		}
	}
	return Lease{}, false
}

// Node returns the node with id.
func (s MetaState) Node(id string) (NodeInfo, bool) {
	for _, n := range s.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return NodeInfo{}, false
}

// ZoneOf returns the zone info by name.
func (s MetaState) ZoneOf(name string) (ZoneInfo, bool) { return s.zone(name) }

// ConfigValue returns a config item.
func (s MetaState) ConfigValue(key string) (ConfigItem, bool) {
	for _, it := range s.Config {
		if it.Key == key {
			return it, true
		}
	}
	return ConfigItem{}, false
}
