package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/snapfile"
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

// handleSnapshot streams one group's state as a backup file (snapfile):
// "meta" or "zone/NAME". The group's leader serves it: it runs a barrier
// (so its state machine has applied everything committed before the
// request), reads the state in one read transaction at its applied index,
// spools it to a file in the data dir while hashing it, and sends the
// header (with that index, its term and the SHA-256) and the body. Another
// node passes the request on to the leader and streams its reply back.
// The body holds the tokens' hashes and every account: admin only.
// snapshotSpool names the files a snapshot is spooled to before it is
// sent; the node removes them when it is done, and at start those a crash
// left behind.
const snapshotSpool = "snapshot-*.part"

// testSnapshotHold, when set (tests), runs once a snapshot has taken the
// node's slot, before it is written.
var testSnapshotHold atomic.Pointer[func()]

// removeSnapshotSpools deletes the spool files a node stopped while
// writing a snapshot left in its data folder.
func (n *Node) removeSnapshotSpools() {
	left, _ := filepath.Glob(filepath.Join(n.cfg.DataDir, snapshotSpool))
	for _, f := range left {
		if err := os.Remove(f); err != nil {
			n.log.Warn("remove a snapshot spool left by an earlier run", "file", f, "err", err)
			continue
		}
		n.log.Info("removed a snapshot spool left by an earlier run", "file", f)
	}
}

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
		h := n.hostedZone(z)
		if h == nil || !h.rep.IsLeader() {
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
		rep, write = h.rep, h.fsm.WriteSnapshot
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
	spool, err := os.CreateTemp(n.cfg.DataDir, snapshotSpool)
	if err != nil {
		writeError(w, api.Errorf(api.CodeInternal, "spool snapshot: %v", err))
		return
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	sum := sha256.New()
	applied, digest, err := write(io.MultiWriter(spool, sum))
	if err == nil {
		_, err = spool.Seek(0, io.SeekStart)
	}
	var size int64
	if err == nil {
		size, err = spool.Seek(0, io.SeekEnd)
	}
	if err == nil {
		_, err = spool.Seek(0, io.SeekStart)
	}
	if err != nil {
		writeError(w, apiError(fmt.Errorf("snapshot of %s: %w", group, err)))
		return
	}
	h := snapfile.Header{Group: group, Index: applied, Term: rep.TermAt(applied), Created: time.Now().UTC(),
		Size: size, SHA256: hex.EncodeToString(sum.Sum(nil))}
	if n.clustered {
		h.ClusterID = n.metaFSM.State().ClusterID
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(HeaderSnapshotIndex, strconv.FormatUint(applied, 10))
	w.Header().Set(HeaderStateDigest, hex.EncodeToString(digest[:]))
	w.WriteHeader(http.StatusOK)
	if err := snapfile.Write(w, h, spool); err != nil {
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
	_, id := n.meta.Raft().LeaderWithID()
	if id == "" {
		return "", fmt.Errorf("%w: meta group has no leader", ErrNoLeader)
	}
	if string(id) == n.cfg.NodeID {
		return "", nil
	}
	addr := n.httpAddrOf(string(id))
	if addr == "" {
		addr = n.gossipHTTPAddr(string(id))
	}
	if addr == "" {
		return "", fmt.Errorf("%w: meta leader %s has no known address", ErrNoLeader, id)
	}
	return addr, nil
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
	req, err := n.peer.NewRequest(r.Context(), http.MethodGet, addr, r.URL.RequestURI(), nil)
	if err != nil {
		writeError(w, api.Errorf(api.CodeInternal, "build forward: %v", err))
		return
	}
	req.Header.Set(HeaderForwarded, strconv.Itoa(hops+1))
	resp, err := n.peer.Do(req)
	if err != nil {
		writeError(w, api.Errorf(api.CodeUnavailable, "forward to %s: %v; retry", addr, err))
		return
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", HeaderNode, HeaderSnapshotIndex, HeaderStateDigest} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set(HeaderLeader, addr)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
