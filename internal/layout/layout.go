package layout

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
)

// GroupDir is the folder of a Raft group's replica ("meta" or "zone/NAME")
// in a node's data folder.
func GroupDir(dataDir, group string) string {
	return filepath.Join(dataDir, "groups", strings.ReplaceAll(group, "/", "-"))
}

// MetaVoters returns the nodes of byZone (each zone's sorted by id) in
// the order of zones, with the meta voters marked: round robin over the
// zones, three in all (fewer if fewer nodes).
func MetaVoters(zones []string, byZone map[string][]fsm.NodeInfo) []fsm.NodeInfo {
	picked := map[string]bool{}
	for round := 0; len(picked) < 3; round++ {
		added := false
		for _, z := range zones {
			if round < len(byZone[z]) && len(picked) < 3 {
				picked[byZone[z][round].ID] = true
				added = true
			}
		}
		if !added {
			break
		}
	}
	var nodes []fsm.NodeInfo
	for _, z := range zones {
		for _, nd := range byZone[z] {
			nd.MetaVoter = picked[nd.ID]
			nodes = append(nodes, nd)
		}
	}
	return nodes
}

// NewClusterID makes a cluster's identity: 16 random hex digits.
func NewClusterID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("layout: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// Voters lists nodes as the voters of a Raft configuration.
func Voters(nodes []fsm.NodeInfo) []raft.Server {
	out := make([]raft.Server, 0, len(nodes))
	for _, nd := range nodes {
		out = append(out, raft.Server{ID: raft.ServerID(nd.ID), Address: raft.ServerAddress(nd.RaftAddr), Suffrage: raft.Voter})
	}
	return out
}
