package checker

import (
	"fmt"
	"slices"
	"strings"
)

// ReplicaSample is one replica's state digest as its node reported it in
// one sample of the whole cluster (GET /v1/internal/replicas?digest=1).
type ReplicaSample struct {
	// Sample names the sample the replica was read in ("final", or a
	// failover step's "serve #3 (1)").
	Sample  string `json:"sample"`
	Node    string `json:"node"`
	Group   string `json:"group"`
	Applied uint64 `json:"applied"`
	Digest  string `json:"digest"`
	// Err says why the node could not be read; the replica is then
	// unknown.
	Err string `json:"error,omitempty"`
}

// FinalSample names the samples taken at the end of a run, once the
// cluster has settled ("final (1)", "final (2)", …): every replica must be
// met with another of its group at one applied index in one of them.
const FinalSample = "final"

// Digests compares the replicas of every group, failover stores included:
// within one sample, replicas of one group at the same applied index must
// have the same state digest (replica-divergence otherwise). A node never
// read at the end, a replica seen at the end that never met another of its
// group at one index with a digest, a replica that answered a serve step's
// sample without a digest and was never compared in that step, or a serve
// step in which a store's replicas never met, makes the verdict unknown: a
// replica not compared is not known to agree. Not seen: a store replica
// that answered the serve step's samples with digests, always at another
// index than the others (a follower that lags under load).
type Digests struct {
	Samples []ReplicaSample
}

// Name implements the checker's naming.
func (Digests) Name() string { return "replicas" }

// Check compares the samples.
func (d Digests) Check() *Result {
	r := newResult(d.Name())
	// must are the replicas that have to be met at one applied index with
	// another of their group, with digests, in some sample of a step:
	// at the end, every replica of a group seen in two replicas or more
	// (a group that never stops writing, like the meta group renewing
	// leases, need not be still for all of them at once); during a serve
	// step, a replica that answered a sample without a digest (its state
	// being replaced by a snapshot, say), which is otherwise never
	// compared: a failover store exists only then.
	type replica struct{ step, group, node string }
	must, metReplica := map[replica]bool{}, map[replica]bool{}
	read, unread := map[string]bool{}, map[string]bool{}

	type key struct{ sample, group string }
	byGroup := map[key][]ReplicaSample{}
	listed := map[key][]string{} // every replica of the group the sample listed, digested or not
	var keys []key
	for _, s := range d.Samples {
		step := stepOf(s.Sample)
		if s.Err != "" && s.Group == "" {
			// A node unreadable during a fault (killed, cut off) may be
			// down by design; one never read at the end is unknown
			// (below).
			r.Notes = append(r.Notes, fmt.Sprintf("sample %s: node %s unreadable: %s", s.Sample, s.Node, s.Err))
			if step == FinalSample {
				unread[s.Node] = true
			}
			continue
		}
		if step == FinalSample {
			read[s.Node] = true
		}
		k := key{s.Sample, s.Group}
		if listed[k] == nil {
			keys = append(keys, k)
		}
		listed[k] = append(listed[k], s.Node)
		if s.Err != "" {
			r.Notes = append(r.Notes, fmt.Sprintf("sample %s: node %s: %s", s.Sample, s.Node, s.Err))
			must[replica{step, s.Group, s.Node}] = true
			continue
		}
		byGroup[k] = append(byGroup[k], s)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.sample != b.sample {
			return cmpString(a.sample, b.sample)
		}
		return cmpString(a.group, b.group)
	})
	groups := map[string]bool{}
	// A step's samples (a serve step's several, the final ones) must have
	// compared each group they saw in two replicas or more at least once.
	type stepGroup struct{ step, group string }
	seen, met := map[stepGroup]bool{}, map[stepGroup]bool{}
	var order []stepGroup
	for _, k := range keys {
		sg := stepGroup{stepOf(k.sample), k.group}
		if len(listed[k]) < 2 {
			continue
		}
		if sg.step == FinalSample {
			for _, n := range listed[k] {
				must[replica{sg.step, k.group, n}] = true
			}
		}
		if !seen[sg] {
			seen[sg] = true
			order = append(order, sg)
		}
	}
	for _, k := range keys {
		step := stepOf(k.sample)
		atIndex := map[uint64][]ReplicaSample{}
		for _, s := range byGroup[k] {
			atIndex[s.Applied] = append(atIndex[s.Applied], s)
		}
		for idx, same := range atIndex {
			if len(same) < 2 {
				continue
			}
			groups[k.group] = true
			met[stepGroup{step, k.group}] = true
			r.Stats["replicas compared"] += len(same)
			for _, s := range same {
				metReplica[replica{step, k.group, s.Node}] = true
			}
			for _, s := range same[1:] {
				if s.Digest != same[0].Digest {
					r.add(Anomaly{Kind: ReplicaDivergent, Node: s.Node,
						Detail: fmt.Sprintf("%s, sample %s: at applied index %d node %s has state digest %.12s, node %s %.12s",
							k.group, k.sample, idx, same[0].Node, same[0].Digest, s.Node, s.Digest)})
				}
			}
		}
	}
	var never []replica
	for rp := range must {
		if !metReplica[rp] {
			never = append(never, rp)
		}
	}
	slices.SortFunc(never, func(a, b replica) int {
		return cmpString(a.step+"\x00"+a.group+"\x00"+a.node, b.step+"\x00"+b.group+"\x00"+b.node)
	})
	for _, rp := range never {
		if rp.step == FinalSample {
			r.unknown("%s on %s: never met another replica of its group at one applied index at the end; not compared", rp.group, rp.node)
		} else {
			r.unknown("%s on %s: answered sample %s without a state digest and never met another replica of its group there; not compared", rp.group, rp.node, rp.step)
		}
	}
	var lost []string
	for n := range unread {
		if !read[n] {
			lost = append(lost, n)
		}
	}
	slices.Sort(lost)
	for _, n := range lost {
		r.unknown("node %s could not be read at the end: its replicas were not compared", n)
	}
	for _, sg := range order {
		if !met[sg] {
			r.unknown("%s: no two of its replicas were met at one applied index in sample %s; they were not compared", sg.group, sg.step)
		}
	}
	r.Stats["groups compared"] = len(groups)
	if len(groups) == 0 {
		r.unknown("no two replicas of any group were compared")
	}
	return r
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

// stepOf is the step a sample belongs to: its name without the " (n)" of
// one of the step's several samples.
func stepOf(sample string) string {
	if i := strings.LastIndex(sample, " ("); i > 0 {
		return sample[:i]
	}
	return sample
}
