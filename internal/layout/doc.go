// Package layout is the shape of a cluster that both its init (package
// server) and an offline restore (package backup) build: where each Raft
// group lives in a node's data folder, which nodes vote in the meta group,
// the voters of a group's configuration, and a new cluster's id.
//
// It is pure (no I/O beyond crypto/rand) and must never import server,
// zone, backup, client or cmd packages (TestLayoutImportsNoNodePackage).
package layout
