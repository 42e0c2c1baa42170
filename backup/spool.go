package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rzonedb/rzone/internal/snapfile"
)

// SpoolPattern names the files a snapshot is spooled to before it is
// sent; the node removes them when it is done, and at start those a crash
// left behind (RemoveSpools).
const SpoolPattern = "snapshot-*.part"

// RemoveSpools deletes the spool files a node stopped while writing a
// snapshot left in its data folder dir.
func RemoveSpools(dir string, log *slog.Logger) {
	left, _ := filepath.Glob(filepath.Join(dir, SpoolPattern))
	for _, f := range left {
		if err := os.Remove(f); err != nil {
			log.Warn("remove a snapshot spool left by an earlier run", "file", f, "err", err)
			continue
		}
		log.Info("removed a snapshot spool left by an earlier run", "file", f)
	}
}

// Spool is one group's state written to a file in the node's data folder
// before it is sent (GET /v1/snapshot/{group...}), with what a backup
// file's header says of it. Close removes the file.
type Spool struct {
	file *os.File
	// Applied is the applied index the state was read at; Digest the
	// state's digest at that index.
	Applied uint64
	Digest  [32]byte
	// Size and SHA256 are the body's length in bytes and hash.
	Size   int64
	SHA256 string
}

// CreateSpool creates an empty spool file in dir (the node's data
// folder).
func CreateSpool(dir string) (*Spool, error) {
	f, err := os.CreateTemp(dir, SpoolPattern)
	if err != nil {
		return nil, err
	}
	return &Spool{file: f}, nil
}

// Fill runs write (a state machine's WriteSnapshot) into the spool file,
// hashing what it writes, and leaves the file ready to be read from its
// start.
func (s *Spool) Fill(write func(io.Writer) (uint64, [32]byte, error)) error {
	sum := sha256.New()
	var err error
	s.Applied, s.Digest, err = write(io.MultiWriter(s.file, sum))
	if err == nil {
		_, err = s.file.Seek(0, io.SeekStart)
	}
	if err == nil {
		s.Size, err = s.file.Seek(0, io.SeekEnd)
	}
	if err == nil {
		_, err = s.file.Seek(0, io.SeekStart)
	}
	if err != nil {
		return err
	}
	s.SHA256 = hex.EncodeToString(sum.Sum(nil))
	return nil
}

// Header is the backup file header of the spooled state of group, at
// term, of the cluster clusterID ("" standalone).
func (s *Spool) Header(group string, term uint64, clusterID string) snapfile.Header {
	return snapfile.Header{ClusterID: clusterID, Group: group, Index: s.Applied, Term: term, Created: time.Now().UTC(),
		Size: s.Size, SHA256: s.SHA256}
}

// Send writes the backup file, header h and the spooled body, to w.
func (s *Spool) Send(w io.Writer, h snapfile.Header) error { return snapfile.Write(w, h, s.file) }

// Close closes and removes the spool file.
func (s *Spool) Close() {
	s.file.Close()
	os.Remove(s.file.Name())
}
