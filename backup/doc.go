// Package backup is the offline side of rzone's backups: `rzone snapshot
// restore`, which builds the data folders of a new cluster from a folder
// that `rzone snapshot save --all` wrote (the file format is
// internal/snapfile; the folder layout and the meta voters' pick are
// internal/layout, shared with cluster init). It runs with no node up.
//
// The HTTP side of a save (GET /v1/snapshot/{group...}) is the node's, in
// package server; the file a leader spools a group's state to before it
// sends it is this package's Spool (spool.go). This package must never
// import server, client or cmd packages (TestBackupImportsNoNodePackage):
// it writes folders a node later starts from, and reaches replicas only
// through zone.SeedReplica.
package backup
