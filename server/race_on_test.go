//go:build race

package server

// slow stretches test deadlines under the race detector, which slows a
// nine-node in-process cluster several times over.
const slow = 4
