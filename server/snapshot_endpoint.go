package server

import (
	"io"
	"net/http"
	"strings"

	"github.com/rzonedb/rzone/backup"
	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// Headers of a snapshot reply (backup.HeaderSnapshotIndex,
// backup.HeaderStateDigest).
const (
	HeaderSnapshotIndex = backup.HeaderSnapshotIndex
	HeaderStateDigest   = backup.HeaderStateDigest
)

// removeSnapshotSpools deletes the spool files a node stopped while
// writing a snapshot left in its data folder (backup.RemoveSpools).
func (n *Node) removeSnapshotSpools() { backup.RemoveSpools(n.cfg.DataDir, n.log) }

// handleSnapshot streams one group's state as a backup file (snapfile):
// "meta" or "zone/NAME". The group's leader serves it (backup.Save.Serve);
// another node passes the request on to the leader and streams its reply
// back. The body holds the tokens' hashes and every account: admin only.
func (n *Node) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	var rep *zone.Replica
	var write func(io.Writer) (uint64, [32]byte, error)
	switch z, isZone := strings.CutPrefix(group, "zone/"); {
	case group == "meta":
		if !n.clustered {
			api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "a standalone zone has no meta group"))
			return
		}
		rep, write = n.meta, n.metaFSM.WriteSnapshot
		if !rep.IsLeader() {
			n.forwardSnapshot(w, r, n.cluster.MetaLeaderHTTP)
			return
		}
	case isZone:
		h := n.zones.Get(z)
		if h == nil || !h.Replica().IsLeader() {
			if !n.clustered && h == nil {
				api.WriteError(w, api.Errorf(api.CodeNotFound, "no zone %q here", z))
				return
			}
			if n.clustered {
				if _, ok := n.metaFSM.State().ZoneOf(z); !ok {
					api.WriteError(w, api.Errorf(api.CodeNotFound, "no zone %q", z))
					return
				}
			}
			n.forwardSnapshot(w, r, func() (string, error) { return n.zoneLeaderHTTP(r.Context(), z) })
			return
		}
		rep, write = h.Replica(), h.FSM().WriteSnapshot
	default:
		api.WriteError(w, api.Errorf(api.CodeInvalidArgument, "group %q: want meta or zone/NAME", group))
		return
	}
	save := backup.Save{Group: group, Rep: rep, Write: write, ClusterID: n.clusterID, DataDir: n.cfg.DataDir,
		ReadTimeout: n.cfg.ReadTimeout, Busy: &n.snapshotting, Log: n.log}
	if err := save.Serve(r.Context(), w); err != nil {
		api.WriteError(w, cluster.APIError(err))
	}
}

// clusterID is the cluster's id, "" standalone.
func (n *Node) clusterID() string {
	if !n.clustered {
		return ""
	}
	return n.metaFSM.State().ClusterID
}

// forwardSnapshot passes a snapshot request on to the group's leader at
// leader() and streams the reply back (cluster.Member.StreamToLeader).
func (n *Node) forwardSnapshot(w http.ResponseWriter, r *http.Request, leader func() (string, error)) {
	n.cluster.StreamToLeader(w, r, "the snapshot request", leader,
		[]string{"Content-Type", HeaderNode, HeaderSnapshotIndex, HeaderStateDigest}, HeaderLeader)
}
