package server

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/backup"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/zone"
)

// Headers of a snapshot reply (GET /v1/snapshot/{group...}), besides the
// file itself: the applied index the state was read at and the state's
// digest at that index (the digest GET /v1/internal/replicas?digest=1
// shows), so a restored replica can be compared with its source.
const (
	HeaderSnapshotIndex = "X-Rzone-Snapshot-Index"
	HeaderStateDigest   = "X-Rzone-State-Digest"
)

// testSnapshotHold, when set (tests), runs once a snapshot has taken the
// node's slot, before it is written.
var testSnapshotHold atomic.Pointer[func()]

// removeSnapshotSpools deletes the spool files a node stopped while
// writing a snapshot left in its data folder (backup.RemoveSpools).
func (n *Node) removeSnapshotSpools() { backup.RemoveSpools(n.cfg.DataDir, n.log) }

// handleSnapshot streams one group's state as a backup file (snapfile):
// "meta" or "zone/NAME". The group's leader serves it: it runs a barrier
// (so its state machine has applied everything committed before the
// request), reads the state in one read transaction at its applied index,
// spools it to a file in the data dir while hashing it, and sends the
// header (with that index, its term and the SHA-256) and the body. Another
// node passes the request on to the leader and streams its reply back.
// The body holds the tokens' hashes and every account: admin only.
func (n *Node) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	var rep *zone.Replica
	var write func(io.Writer) (uint64, [32]byte, error)
	switch z, isZone := strings.CutPrefix(group, "zone/"); {
	case group == "meta":
		if !n.clustered {
			writeError(w, api.Errorf(api.CodeInvalidArgument, "a standalone zone has no meta group"))
			return
		}
		rep, write = n.meta, n.metaFSM.WriteSnapshot
		if !rep.IsLeader() {
			n.forwardSnapshot(w, r, n.metaLeaderHTTP)
			return
		}
	case isZone:
		h := n.zones.Get(z)
		if h == nil || !h.Replica().IsLeader() {
			if !n.clustered && h == nil {
				writeError(w, api.Errorf(api.CodeNotFound, "no zone %q here", z))
				return
			}
			if n.clustered {
				if _, ok := n.metaFSM.State().ZoneOf(z); !ok {
					writeError(w, api.Errorf(api.CodeNotFound, "no zone %q", z))
					return
				}
			}
			n.forwardSnapshot(w, r, func() (string, error) { return n.zoneLeaderHTTP(r.Context(), z) })
			return
		}
		rep, write = h.Replica(), h.FSM().WriteSnapshot
	default:
		writeError(w, api.Errorf(api.CodeInvalidArgument, "group %q: want meta or zone/NAME", group))
		return
	}
	if err := rep.Linearizable(r.Context(), n.cfg.ReadTimeout); err != nil {
		writeError(w, apiError(err))
		return
	}
	if !n.snapshotting.CompareAndSwap(false, true) {
		writeError(w, api.Errorf(api.CodeUnavailable, "this node is writing another snapshot; retry once it ends"))
		return
	}
	defer n.snapshotting.Store(false)
	if hold := testSnapshotHold.Load(); hold != nil {
		(*hold)()
	}
	start := time.Now()
	spool, err := backup.CreateSpool(n.cfg.DataDir)
	if err != nil {
		writeError(w, api.Errorf(api.CodeInternal, "spool snapshot: %v", err))
		return
	}
	defer spool.Close()
	if err := spool.Fill(write); err != nil {
		writeError(w, apiError(fmt.Errorf("snapshot of %s: %w", group, err)))
		return
	}
	applied, digest, size := spool.Applied, spool.Digest, spool.Size
	clusterID := ""
	if n.clustered {
		clusterID = n.metaFSM.State().ClusterID
	}
	h := spool.Header(group, rep.TermAt(applied), clusterID)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(HeaderSnapshotIndex, strconv.FormatUint(applied, 10))
	w.Header().Set(HeaderStateDigest, hex.EncodeToString(digest[:]))
	w.WriteHeader(http.StatusOK)
	if err := spool.Send(w, h); err != nil {
		// The header is sent: the client sees a short body, which it
		// refuses by the header's size and hash.
		n.log.Warn("snapshot cut short", "group", group, "err", err)
		return
	}
	n.log.Info("snapshot sent", "group", group, "index", applied, "bytes", size, "took", time.Since(start))
}

// metaLeaderHTTP is the API address of the meta group's leader, "" when it
// is this node.
func (n *Node) metaLeaderHTTP() (string, error) {
	id, err := n.cluster.LeaderID()
	if err != nil || id == n.cfg.NodeID {
		return "", err
	}
	return n.cluster.LeaderAddr(id)
}

// forwardSnapshot passes a snapshot request on to the group's leader at
// leader() and streams the reply back as it comes: a backup can be far
// larger than a forwarded reply may be held in memory.
func (n *Node) forwardSnapshot(w http.ResponseWriter, r *http.Request, leader func() (string, error)) {
	hops, _ := strconv.Atoi(r.Header.Get(HeaderForwarded))
	if hops >= maxHops {
		writeError(w, api.Errorf(api.CodeUnavailable, "the snapshot request was forwarded %d times without reaching the leader; retry", hops))
		return
	}
	addr, err := leader()
	if err != nil {
		writeError(w, apiError(err))
		return
	}
	if addr == "" {
		writeError(w, api.Errorf(api.CodeUnavailable, "leadership changed; retry"))
		return
	}
	n.peer.Stream(w, r, addr, hops+1, []string{"Content-Type", HeaderNode, HeaderSnapshotIndex, HeaderStateDigest}, HeaderLeader)
}
