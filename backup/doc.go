// Package backup is the offline side of rzone's backups: `rzone snapshot
// restore`, which builds the data folders of a new cluster from a folder
// that `rzone snapshot save --all` wrote (the file format is
// internal/snapfile; the folder layout and the meta voters' pick are
// internal/layout, shared with cluster init). It runs with no node up.
//
// A save (GET /v1/snapshot/{group...}) is served by the group's leader
// through Save (save.go), which spools the state to a Spool (spool.go)
// before it sends it; the node's handler (package server) finds the leader
// or forwards to it. This package must never
// import server, client or cmd packages (TestBackupImportsNoNodePackage):
// it writes folders a node later starts from, and reaches replicas only
// through zone.SeedReplica.
package backup
