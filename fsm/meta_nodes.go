package fsm

import (
	"fmt"
	"slices"
)

// Node lifecycle commands: a node joins an initialized cluster, is drained
// (it leads no group and takes no scheduler task) or undrained, or is
// removed for good. Their numbers are part of the log format.
const (
	MetaAddNode    byte = 14 // a node joins the initialized cluster (Node)
	MetaRemoveNode byte = 15 // a node leaves every group for good (NodeID)
	MetaDrainNode  byte = 16 // a node stops leading and taking tasks (NodeID; Undrain reverses it)
)

// maxMetaVoters is how many nodes vote in the meta group when there are
// enough: a removed voter's place goes to a spare node, and a joining node
// fills a place left empty.
const maxMetaVoters = 3

// Removed reports whether node id was removed from the cluster: it may not
// join again under that id.
func (s MetaState) Removed(id string) bool {
	_, ok := slices.BinarySearch(s.RemovedNodes, id)
	return ok
}

// Drained reports whether node id is drained: it should lead no group and
// takes no scheduler task.
func (s MetaState) Drained(id string) bool {
	nd, ok := s.Node(id)
	return ok && nd.Drained
}

func (s *MetaState) nodeIndex(id string) (int, bool) {
	return slices.BinarySearchFunc(s.Nodes, id, func(n NodeInfo, id string) int { return cmpString(n.ID, id) })
}

func (s *MetaState) metaVoters() int {
	v := 0
	for _, nd := range s.Nodes {
		if nd.MetaVoter {
			v++
		}
	}
	return v
}

// addNode records a node that joins after the init. A node already known
// in the same zone keeps its roles and gets c.Node's addresses; a removed
// id is refused. A node joins the meta group's voters while they are
// fewer than maxMetaVoters.
func (s *MetaState) addNode(c *MetaCmd) MetaResult {
	nd := *c.Node
	switch {
	case !s.Initialized:
		return MetaResult{Err: "the cluster is not initialized"}
	case s.Removed(nd.ID):
		return MetaResult{Err: fmt.Sprintf("node %s was removed from the cluster; a replacement joins under a new id", nd.ID)}
	}
	if _, ok := s.zone(nd.Zone); !ok {
		return MetaResult{Err: fmt.Sprintf("node %s is in zone %q, which is no zone of the cluster", nd.ID, nd.Zone)}
	}
	i, ok := s.nodeIndex(nd.ID)
	if ok {
		old := s.Nodes[i]
		if old.Zone != nd.Zone {
			return MetaResult{Err: fmt.Sprintf("node %s is in zone %s, not %s", nd.ID, old.Zone, nd.Zone)}
		}
		old.HTTPAddr, old.RaftAddr = nd.HTTPAddr, nd.RaftAddr
		s.Nodes[i] = old
		return MetaResult{Epoch: s.Epoch}
	}
	nd.MetaVoter = s.metaVoters() < maxMetaVoters
	nd.Drained = false
	s.Nodes = slices.Insert(s.Nodes, i, nd)
	return MetaResult{Epoch: s.Epoch}
}

// removeNode removes a node for good: it leaves the node list (so no
// reconcile loop adds it back to a group) and joins the removed ids. A
// removed meta voter's place goes to a spare node: one of its own zone if
// any, else one of the zone with the fewest meta voters; undrained nodes
// first, then by id. The last node of a zone and the last meta voter are
// not removed. Removing a removed node again changes nothing.
func (s *MetaState) removeNode(c *MetaCmd) MetaResult {
	if s.Removed(c.NodeID) {
		return MetaResult{Epoch: s.Epoch}
	}
	i, ok := s.nodeIndex(c.NodeID)
	if !ok {
		return MetaResult{Err: fmt.Sprintf("no node %q", c.NodeID)}
	}
	gone := s.Nodes[i]
	inZone := 0
	for _, nd := range s.Nodes {
		if nd.Zone == gone.Zone {
			inZone++
		}
	}
	if inZone == 1 {
		return MetaResult{Err: fmt.Sprintf("node %s is the last node of zone %s", gone.ID, gone.Zone)}
	}
	if gone.MetaVoter && s.metaVoters() == 1 && len(s.Nodes) == 1 {
		return MetaResult{Err: fmt.Sprintf("node %s is the last meta voter", gone.ID)}
	}
	s.Nodes = slices.Delete(s.Nodes, i, i+1)
	j, _ := slices.BinarySearch(s.RemovedNodes, gone.ID)
	s.RemovedNodes = slices.Insert(s.RemovedNodes, j, gone.ID)
	res := MetaResult{Epoch: s.Epoch}
	if gone.MetaVoter {
		if k := s.spareVoter(gone.Zone); k >= 0 {
			s.Nodes[k].MetaVoter = true
			res.MetaVoter = s.Nodes[k].ID
		}
	}
	return res
}

// spareVoter picks the node to take a removed meta voter's place (see
// removeNode), or -1 if every node votes already.
func (s *MetaState) spareVoter(zone string) int {
	voters := map[string]int{}
	for _, nd := range s.Nodes {
		if nd.MetaVoter {
			voters[nd.Zone]++
		}
	}
	best := -1
	better := func(a, b NodeInfo) bool { // a before b
		if (a.Zone == zone) != (b.Zone == zone) {
			return a.Zone == zone
		}
		if a.Drained != b.Drained {
			return !a.Drained
		}
		if voters[a.Zone] != voters[b.Zone] {
			return voters[a.Zone] < voters[b.Zone]
		}
		return a.ID < b.ID
	}
	for k, nd := range s.Nodes {
		if !nd.MetaVoter && (best < 0 || better(nd, s.Nodes[best])) {
			best = k
		}
	}
	return best
}

// drainNode marks a node drained (or, with Undrain, no longer drained).
func (s *MetaState) drainNode(c *MetaCmd) MetaResult {
	i, ok := s.nodeIndex(c.NodeID)
	if !ok {
		return MetaResult{Err: fmt.Sprintf("no node %q", c.NodeID)}
	}
	s.Nodes[i].Drained = !c.Undrain
	return MetaResult{Epoch: s.Epoch}
}
