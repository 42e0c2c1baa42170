package backup

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

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

// TestSaveHold, when set (tests), runs once a save has taken the node's
// slot (Save.Busy), before it is written.
var TestSaveHold atomic.Pointer[func()]

// Save is one group's snapshot as the group's leader serves it (the
// node's handler of GET /v1/snapshot/{group...} finds the leader, or
// forwards to it, and answers Serve's errors).
type Save struct {
	Group string        // "meta" or "zone/NAME"
	Rep   *zone.Replica // the node's member of the group, which leads it
	// Write is the group's state machine's WriteSnapshot.
	Write func(io.Writer) (uint64, [32]byte, error)
	// ClusterID returns the cluster's id for the header ("" standalone).
	ClusterID   func() string
	DataDir     string        // the node's data folder, where the spool goes
	ReadTimeout time.Duration // bounds the barrier
	// Busy is set while the node writes a snapshot: it writes one at a
	// time.
	Busy *atomic.Bool
	Log  *slog.Logger
}

// Serve streams the group's state to w as a backup file (snapfile): it
// runs a barrier (so the state machine has applied everything committed
// before the request), reads the state in one read transaction at its
// applied index, spools it to a file in the data folder while hashing it,
// and sends the header (with that index, its term and the SHA-256) and
// the body. An error is returned only while nothing is written (the
// caller answers it); once the header is sent, a failure cuts the body
// short, which the client refuses by the header's size and hash.
func (s Save) Serve(ctx context.Context, w http.ResponseWriter) error {
	if err := s.Rep.Linearizable(ctx, s.ReadTimeout); err != nil {
		return err
	}
	if !s.Busy.CompareAndSwap(false, true) {
		return api.Errorf(api.CodeUnavailable, "this node is writing another snapshot; retry once it ends")
	}
	defer s.Busy.Store(false)
	if hold := TestSaveHold.Load(); hold != nil {
		(*hold)()
	}
	start := time.Now()
	spool, err := CreateSpool(s.DataDir)
	if err != nil {
		return api.Errorf(api.CodeInternal, "spool snapshot: %v", err)
	}
	defer spool.Close()
	if err := spool.Fill(s.Write); err != nil {
		return fmt.Errorf("snapshot of %s: %w", s.Group, err)
	}
	applied, digest, size := spool.Applied, spool.Digest, spool.Size
	h := spool.Header(s.Group, s.Rep.TermAt(applied), s.ClusterID())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(HeaderSnapshotIndex, strconv.FormatUint(applied, 10))
	w.Header().Set(HeaderStateDigest, hex.EncodeToString(digest[:]))
	w.WriteHeader(http.StatusOK)
	if err := spool.Send(w, h); err != nil {
		s.Log.Warn("snapshot cut short", "group", s.Group, "err", err)
		return nil
	}
	s.Log.Info("snapshot sent", "group", s.Group, "index", applied, "bytes", size, "took", time.Since(start))
	return nil
}
