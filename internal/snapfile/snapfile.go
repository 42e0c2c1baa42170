// Package snapfile is the format of an rzone backup file: one Raft group's
// state at one applied index, as `rzone snapshot save` writes it and
// `rzone snapshot restore` reads it.
//
// A file is a magic line, a header of one JSON line, and the body:
//
//	RZONE-SNAPSHOT\n
//	{"version":1,"cluster_id":"…","group":"zone/A","index":…,"term":…,"created":"…","size":…,"sha256":"…"}\n
//	body (size bytes: a zone's bbolt state file, or the meta group's JSON state)
//
// The SHA-256 covers the body; Verify reads the whole file and checks the
// magic, the version, the size and the hash before a caller uses any of it.
//
// snapfile imports no other rzone package.
package snapfile

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Magic is the first line of every backup file.
const Magic = "RZONE-SNAPSHOT"

// Version is the format version this build writes and reads.
const Version = 1

// maxHeader bounds the header line: a file whose first lines are longer is
// not a backup.
const maxHeader = 4096

// Errors. Verify and ReadHeader wrap one of them with the detail.
var (
	// ErrNotSnapshot: the file does not start with the magic line or its
	// header is not valid JSON.
	ErrNotSnapshot = errors.New("snapfile: not an rzone snapshot")
	// ErrVersion: the file was written in a format this build does not read.
	ErrVersion = errors.New("snapfile: unsupported snapshot format version")
	// ErrTruncated: the body is shorter than the header says.
	ErrTruncated = errors.New("snapfile: snapshot is truncated")
	// ErrCorrupt: the body's size or SHA-256 differs from the header's.
	ErrCorrupt = errors.New("snapfile: snapshot is corrupt")
)

// Header describes a backup file's body.
type Header struct {
	Version   int    `json:"version"`
	ClusterID string `json:"cluster_id"`
	// Group is the Raft group: "meta" or "zone/NAME".
	Group string `json:"group"`
	// Index is the applied index the state was read at; Term the term of
	// the entry at Index.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Created is when the leader read the state (UTC).
	Created time.Time `json:"created"`
	// Size is the body's length in bytes; SHA256 its hash, hex.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Valid checks the fields a restore depends on.
func (h *Header) Valid() error {
	switch {
	case h.Version != Version:
		return fmt.Errorf("%w: %d (this rzone reads %d)", ErrVersion, h.Version, Version)
	case h.Group != "meta" && !strings.HasPrefix(h.Group, "zone/"):
		return fmt.Errorf("%w: group %q is neither meta nor zone/NAME", ErrNotSnapshot, h.Group)
	case h.Index == 0:
		return fmt.Errorf("%w: index 0", ErrNotSnapshot)
	case h.Size < 0:
		return fmt.Errorf("%w: negative size", ErrNotSnapshot)
	case len(h.SHA256) != 64:
		return fmt.Errorf("%w: sha256 %q is not 64 hex digits", ErrNotSnapshot, h.SHA256)
	}
	return nil
}

// Write writes the magic line, h (with Version set) and body, which must be
// h.Size bytes hashing to h.SHA256.
func Write(w io.Writer, h Header, body io.Reader) error {
	h.Version = Version
	line, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("snapfile: encode header: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n%s\n", Magic, line); err != nil {
		return err
	}
	n, err := io.Copy(w, body)
	if err != nil {
		return err
	}
	if n != h.Size {
		return fmt.Errorf("snapfile: body is %d bytes, header says %d", n, h.Size)
	}
	return nil
}

// ReadHeader reads the magic line and the header from r and leaves r at
// the first byte of the body. It checks the header's fields, not the body.
func ReadHeader(r *bufio.Reader) (Header, error) {
	var h Header
	magic, err := readLine(r)
	if err != nil || magic != Magic {
		return h, fmt.Errorf("%w: no %s line at the start", ErrNotSnapshot, Magic)
	}
	line, err := readLine(r)
	if err != nil {
		return h, fmt.Errorf("%w: header: %v", ErrNotSnapshot, err)
	}
	// Decode the version first, so that a newer format with other fields
	// is reported as a version mismatch rather than as garbage.
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		return h, fmt.Errorf("%w: header is not JSON: %v", ErrNotSnapshot, err)
	}
	if v.Version != Version {
		return h, fmt.Errorf("%w: %d (this rzone reads %d)", ErrVersion, v.Version, Version)
	}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("%w: header: %v", ErrNotSnapshot, err)
	}
	return h, h.Valid()
}

func readLine(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for b.Len() <= maxHeader {
		c, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return "", fmt.Errorf("line longer than %d bytes", maxHeader)
}

// VerifyBody reads the body from r to its end and checks its size and hash
// against h. Trailing bytes after Size are corruption.
func VerifyBody(r io.Reader, h Header) error {
	sum := sha256.New()
	n, err := io.Copy(sum, io.LimitReader(r, h.Size+1))
	if err != nil {
		return fmt.Errorf("snapfile: read body: %w", err)
	}
	switch {
	case n < h.Size:
		return fmt.Errorf("%w: body has %d of %d bytes", ErrTruncated, n, h.Size)
	case n > h.Size:
		return fmt.Errorf("%w: body is longer than the %d bytes the header says", ErrCorrupt, h.Size)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.SHA256 {
		return fmt.Errorf("%w: body's sha256 is %s, header says %s", ErrCorrupt, got, h.SHA256)
	}
	return nil
}

// Verify reads the whole file at path and returns its header once the
// magic, version, size and SHA-256 all check out.
func Verify(path string) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	h, err := ReadHeader(r)
	if err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	if err := VerifyBody(r, h); err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// Open opens the file at path and returns its header and a reader of its
// body; the caller closes it. It does not check the body: Verify first.
func Open(path string) (Header, io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	r := bufio.NewReader(f)
	h, err := ReadHeader(r)
	if err != nil {
		f.Close()
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, readCloser{io.LimitReader(r, h.Size), f}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Manifest is `rzone snapshot save --all`'s manifest.json: one entry per
// group, each naming its file in the same folder.
type Manifest struct {
	Version   int             `json:"version"`
	ClusterID string          `json:"cluster_id"`
	Created   time.Time       `json:"created"`
	Groups    []ManifestEntry `json:"groups"`
}

// ManifestEntry is one group's file.
type ManifestEntry struct {
	Group  string `json:"group"`
	File   string `json:"file"`
	Index  uint64 `json:"index"`
	Term   uint64 `json:"term"`
	SHA256 string `json:"sha256"`
	// StateDigest is the state digest the leader computed at Index (the
	// one GET /v1/internal/replicas?digest=1 reports), to compare a
	// restored replica with its source.
	StateDigest string `json:"state_digest,omitempty"`
}

// ManifestFile is the manifest's name in a backup folder.
const ManifestFile = "manifest.json"

// FileName is the file a group is saved to in a backup folder.
func FileName(group string) string {
	return strings.ReplaceAll(group, "/", "-") + ".snap"
}
