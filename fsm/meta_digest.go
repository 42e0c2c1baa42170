package fsm

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
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
