// Package backup is rzone's backups, both sides. The save: a group's
// leader serves GET /v1/snapshot/{group...} through Save (save.go), which
// runs the linearizable read protocol on the live replica, spools its
// state to a Spool (spool.go) and then sends it; the node's handler
// (package server) finds the leader or forwards to it. The restore, run
// with no node up: `rzone snapshot restore` builds the data folders of a
// new cluster from a folder that `rzone snapshot save --all` wrote (the
// file format is internal/snapfile; the folder layout and the meta voters'
// pick are internal/layout, shared with cluster init), seeding each
// group's replica through zone.SeedReplica.
//
// This package must never import server, client or cmd packages
// (TestBackupImportsNoNodePackage).
package backup
