package fsm

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
)

// Digest is a SHA-256 over the meta state with the applied index it was
// read at: two replicas at the same applied index must have the same
// digest.
func (m *Meta) Digest() (applied uint64, sum [32]byte, err error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	data, err := json.Marshal(m.st)
	if err != nil {
		return 0, sum, fmt.Errorf("fsm: meta digest: %w", err)
	}
	return m.applied.load(), sha256.Sum256(data), nil
}

// WriteSnapshot writes the state as its Raft snapshot encodes it (the body
// of a backup) to w, and returns the applied index and the digest (Digest)
// of that same state.
func (m *Meta) WriteSnapshot(w io.Writer) (applied uint64, digest [32]byte, err error) {
	m.mu.RLock()
	applied = m.applied.load()
	data, err := json.Marshal(metaSnapshot{Applied: applied, State: m.st})
	var st []byte
	if err == nil {
		st, err = json.Marshal(m.st)
	}
	m.mu.RUnlock()
	if err != nil {
		return 0, digest, fmt.Errorf("fsm: meta snapshot: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return 0, digest, err
	}
	return applied, sha256.Sum256(st), nil
}

// DecodeMetaSnapshot parses a meta snapshot's body (WriteSnapshot's,
// Snapshot's): the applied index and the state. Unknown fields are
// refused: a body from a newer rzone is not guessed at.
func DecodeMetaSnapshot(r io.Reader) (applied uint64, st MetaState, err error) {
	var snap metaSnapshot
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		return 0, st, fmt.Errorf("fsm: meta snapshot: %w", err)
	}
	return snap.Applied, snap.State, nil
}

// EncodeMetaSnapshot is the snapshot body of st at applied, as Restore
// reads it.
func EncodeMetaSnapshot(applied uint64, st MetaState) ([]byte, error) {
	return json.Marshal(metaSnapshot{Applied: applied, State: st})
}
