package metrics

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/internal/clock"
)

// Roles a node hosts a group in, the role label of the raft series.
const (
	RoleZone          = "zone"           // a voter of the node's own zone
	RoleMeta          = "meta"           // the meta group
	RoleAsyncFollower = "async_follower" // a non-voter of a zone this node's zone backs up
	RoleFailoverStore = "failover_store" // a voter of a failover store
)

// Replica is one group a node hosts, as the raft series see it.
type Replica struct {
	// Group and Role label the group's series: meta or zone/NAME, and the
	// role the node hosts it in.
	Group, Role string
	// Rep is the node's replica of the group (a *zone.Replica).
	Rep interface {
		Raft() *raft.Raft
		LeaderChanges() uint64
	}
	// Applied is the state machine's applied index.
	Applied func() uint64
	// LeaseUntil, set on the cluster-mode groups the node hosts as a
	// voter, is when the group's ownership lease ends by the monotonic
	// clock (clock.Mono), 0 if it holds none.
	LeaseUntil func() int64
}

// RaftCollector reads the state of every hosted group at each scrape. A
// series that has no value (last contact on a replica that never heard
// from a leader, a lease on a group this node does not lead) is left out,
// never given a stand-in value.
type RaftCollector struct {
	replicas func() []Replica

	state, isLeader, hasLeader, term, commit, last, raftApplied, fsmApplied, lag, contact,
	leaderChanges, lease *prometheus.Desc
}

// NewRaftCollector returns the collector of the groups replicas lists at
// each scrape.
func NewRaftCollector(replicas func() []Replica) *RaftCollector {
	l := []string{"group", "role"}
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string{}, l...), extra...), nil)
	}
	return &RaftCollector{replicas: replicas,
		state:         d("rzone_raft_state", "1 for the replica's current Raft state (follower, candidate, leader, shutdown), 0 for the others.", "state"),
		isLeader:      d("rzone_raft_is_leader", "1 if this replica leads its group."),
		hasLeader:     d("rzone_raft_has_leader", "1 if this replica knows a leader of its group."),
		term:          d("rzone_raft_term", "The replica's current Raft term."),
		commit:        d("rzone_raft_commit_index", "Commit index known to the replica."),
		last:          d("rzone_raft_last_index", "Last index in the replica's log."),
		raftApplied:   d("rzone_raft_applied_index", "Last index Raft has handed to the state machine (no-op and configuration entries included)."),
		fsmApplied:    d("rzone_fsm_applied_index", "Last index whose effects are in the state machine (the state file's applied index for a zone)."),
		lag:           d("rzone_fsm_apply_lag_entries", "Commit index minus the index Raft has applied: committed entries waiting to be applied."),
		contact:       d("rzone_raft_last_contact_seconds", "Seconds since the replica last heard from its leader; followers that have heard from one only."),
		leaderChanges: d("rzone_raft_leader_changes_total", "Times the replica learned of a new leader of its group since it opened."),
		lease:         d("rzone_lease_remaining_seconds", "Seconds left on the ownership lease by this node's clock, negative once it has expired; cluster-mode groups this node leads and has held a lease for."),
	}
}

// Describe implements prometheus.Collector.
func (c *RaftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.isLeader, c.hasLeader, c.term, c.commit, c.last, c.raftApplied,
		c.fsmApplied, c.lag, c.contact, c.leaderChanges, c.lease} {
		ch <- d
	}
}

var raftStates = []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown}

// Collect implements prometheus.Collector.
func (c *RaftCollector) Collect(ch chan<- prometheus.Metric) {
	now := clock.Mono()
	for _, r := range c.replicas() {
		rf := r.Rep.Raft()
		lv := []string{r.Group, r.Role}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
		}
		st := rf.State()
		for _, s := range raftStates {
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, b2f(st == s), r.Group, r.Role, stateName(s))
		}
		_, leader := rf.LeaderWithID()
		gauge(c.isLeader, b2f(st == raft.Leader))
		gauge(c.hasLeader, b2f(leader != ""))
		commit, applied := rf.CommitIndex(), rf.AppliedIndex()
		gauge(c.term, float64(rf.CurrentTerm()))
		gauge(c.commit, float64(commit))
		gauge(c.last, float64(rf.LastIndex()))
		gauge(c.raftApplied, float64(applied))
		gauge(c.fsmApplied, float64(r.Applied()))
		gauge(c.lag, float64(commit-min(commit, applied)))
		if lc := rf.LastContact(); st != raft.Leader && !lc.IsZero() {
			gauge(c.contact, time.Since(lc).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.leaderChanges, prometheus.CounterValue, float64(r.Rep.LeaderChanges()), lv...)
		if r.LeaseUntil != nil && st == raft.Leader {
			if until := r.LeaseUntil(); until != 0 {
				gauge(c.lease, float64(until-now)/1e9)
			}
		}
	}
}

func stateName(s raft.RaftState) string {
	switch s {
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	case raft.Leader:
		return "leader"
	}
	return "shutdown"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
