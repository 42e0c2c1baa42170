package gossip

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// MaxMetaSize is memberlist's limit on the node meta a member gossips about
// itself, in bytes. It counts the JSON encoding of Meta plus leaveMarkerSize
// bytes that Leave adds.
const MaxMetaSize = memberlist.MetaMaxSize

// leaveMarkerSize is what wireMeta.Leaving adds to an encoding:
// `,"leaving":true`.
const leaveMarkerSize = len(`,"leaving":true`)

// Meta is what a node tells the others about itself. It travels as JSON in
// memberlist's node meta, so every member holds the latest Meta of every
// other member it knows, and it changes only through UpdateMeta.
type Meta struct {
	// NodeID names the node in the cluster and is memberlist's node name.
	// Required; fixed for the life of a Gossip.
	NodeID string `json:"id"`
	// Zone is the zone the node belongs to, e.g. "A".
	Zone string `json:"zone"`
	// Roles are what the node hosts, e.g. "voter:zone-A", "follower:zone-C",
	// "meta", "worker". Free-form to this package.
	Roles []string `json:"roles"`
	// HTTPAddr is the host:port of the node's HTTP API.
	HTTPAddr string `json:"http"`
	// RaftAddr is the host:port of the node's Raft transport.
	RaftAddr string `json:"raft"`
	// Capacity is the number of scheduler worker slots the node offers; zero
	// means none. Never negative.
	Capacity int `json:"cap"`
}

// HasRole reports whether role is one of m.Roles.
func (m Meta) HasRole(role string) bool {
	for _, r := range m.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// clone returns a copy of m that shares no memory with it.
func (m Meta) clone() Meta {
	if m.Roles != nil {
		m.Roles = append([]string(nil), m.Roles...)
	}
	return m
}

// wireMeta is the encoding of Meta in memberlist's node meta. Leaving is set
// by Leave just before memberlist's leave message, so that the others can
// tell a member that left from one that died: memberlist reports both with
// the same NotifyLeave and gives no way to tell them apart (see doc.go).
type wireMeta struct {
	Meta
	Leaving bool `json:"leaving,omitempty"`
}

// validate checks the fields of m that this package relies on and that m,
// with the leave marker, fits in MaxMetaSize.
func (m Meta) validate() error {
	if m.NodeID == "" {
		return fmt.Errorf("%w: NodeID is empty", ErrInvalidMeta)
	}
	if m.Capacity < 0 {
		return fmt.Errorf("%w: Capacity %d is negative", ErrInvalidMeta, m.Capacity)
	}
	b, err := encodeMeta(m, true)
	if err != nil {
		return err
	}
	if len(b) > MaxMetaSize {
		return fmt.Errorf("%w: meta of node %q encodes to %d bytes (with a %d-byte leave marker), the limit is %d",
			ErrMetaTooLarge, m.NodeID, len(b), leaveMarkerSize, MaxMetaSize)
	}
	return nil
}

// encodeMeta returns the node meta memberlist gossips for m.
func encodeMeta(m Meta, leaving bool) ([]byte, error) {
	b, err := json.Marshal(wireMeta{Meta: m, Leaving: leaving})
	if err != nil {
		return nil, fmt.Errorf("encode meta of node %q: %w", m.NodeID, err)
	}
	return b, nil
}

// decodeMeta reads node meta gossiped by a member named name. It refuses
// meta that is not an rzone Meta for that name.
func decodeMeta(name string, b []byte) (wireMeta, error) {
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return wireMeta{}, fmt.Errorf("%w: decode meta of node %q: %w", ErrInvalidMeta, name, err)
	}
	if w.NodeID != name {
		return wireMeta{}, fmt.Errorf("%w: node %q gossips meta with id %q", ErrInvalidMeta, name, w.NodeID)
	}
	return w, nil
}
