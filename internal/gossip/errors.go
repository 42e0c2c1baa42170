package gossip

import "errors"

// ErrInvalidConfig wraps every problem Config.Validate finds. Validate joins
// them (errors.Join), so one call reports them all.
var ErrInvalidConfig = errors.New("gossip: invalid config")

// ErrInvalidMeta is returned for a Meta that cannot describe a node: an empty
// NodeID, a negative Capacity, or an UpdateMeta that tries to change the
// NodeID (the NodeID is the memberlist node name and fixed for the life of a
// Gossip).
var ErrInvalidMeta = errors.New("gossip: invalid meta")

// ErrMetaTooLarge is returned when a Meta encodes to more than MaxMetaSize
// bytes, memberlist's hard limit for node meta.
var ErrMetaTooLarge = errors.New("gossip: meta too large")

// ErrLeft is returned by UpdateMeta after Leave: a node that has left does
// not gossip anything new.
var ErrLeft = errors.New("gossip: node has left the cluster")

// ErrShutdown is returned by the methods that need the network after
// Shutdown.
var ErrShutdown = errors.New("gossip: shut down")
