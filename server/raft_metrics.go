package server

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rzonedb/rzone/zone"
)

// Roles a node hosts a group in, the role label of the raft series.
const (
	roleZone          = "zone"           // a voter of the node's own zone
	roleMeta          = "meta"           // the meta group
	roleAsyncFollower = "async_follower" // a non-voter of a zone this node's zone backs up
	roleFailoverStore = "failover_store" // a voter of a failover store
)

// hostedReplica is one group this node hosts, for the raft series.
type hostedReplica struct {
	group, role string
	rep         *zone.Replica
	applied     func() uint64 // the state machine's applied index
	h           *hosted       // nil for the meta group
}

// replicas lists every group this node hosts now.
func (n *Node) replicas() []hostedReplica {
	var out []hostedReplica
	if n.meta != nil && n.metaFSM != nil {
		out = append(out, hostedReplica{group: "meta", role: roleMeta, rep: n.meta, applied: n.metaFSM.AppliedIndex})
	}
	for _, h := range n.hostedZones() {
		role := roleZone
		switch {
		case h.store:
			role = roleFailoverStore
		case !h.voter:
			role = roleAsyncFollower
		}
		out = append(out, hostedReplica{group: "zone/" + h.zone, role: role, rep: h.rep, applied: h.fsm.AppliedIndex, h: h})
	}
	return out
}

// raftCollector reads the state of every hosted group at each scrape. A
// series that has no value (last contact on a replica that never heard
// from a leader, a lease on a group this node does not lead) is left out,
// never given a stand-in value.
type raftCollector struct {
	n *Node

	state, isLeader, hasLeader, term, commit, last, raftApplied, fsmApplied, lag, contact,
	leaderChanges, lease *prometheus.Desc
}

func newRaftCollector(n *Node) *raftCollector {
	l := []string{"group", "role"}
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string{}, l...), extra...), nil)
	}
	return &raftCollector{n: n,
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

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.isLeader, c.hasLeader, c.term, c.commit, c.last, c.raftApplied,
		c.fsmApplied, c.lag, c.contact, c.leaderChanges, c.lease} {
		ch <- d
	}
}

var raftStates = []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	now := monoNow()
	for _, r := range c.n.replicas() {
		rf := r.rep.Raft()
		lv := []string{r.group, r.role}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
		}
		st := rf.State()
		for _, s := range raftStates {
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, b2f(st == s), r.group, r.role, stateName(s))
		}
		_, leader := rf.LeaderWithID()
		gauge(c.isLeader, b2f(st == raft.Leader))
		gauge(c.hasLeader, b2f(leader != ""))
		commit, applied := rf.CommitIndex(), rf.AppliedIndex()
		gauge(c.term, float64(rf.CurrentTerm()))
		gauge(c.commit, float64(commit))
		gauge(c.last, float64(rf.LastIndex()))
		gauge(c.raftApplied, float64(applied))
		gauge(c.fsmApplied, float64(r.applied()))
		gauge(c.lag, float64(commit-min(commit, applied)))
		if lc := rf.LastContact(); st != raft.Leader && !lc.IsZero() {
			gauge(c.contact, time.Since(lc).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.leaderChanges, prometheus.CounterValue, float64(r.rep.LeaderChanges()), lv...)
		if h := r.h; h != nil && c.n.clustered && h.voter && st == raft.Leader {
			if until := h.lease.Until(); until != 0 {
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
