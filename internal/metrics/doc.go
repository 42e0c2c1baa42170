// Package metrics holds the Prometheus collectors a node registers besides
// its own counters: the state of every Raft replica it hosts, read at each
// scrape (raft.go), and the process's sink for the go-metrics that
// hashicorp/raft, raft-boltdb and memberlist emit (golib.go). The node's
// series themselves are package server's (metrics.go).
//
// metrics imports no rzone package but internal/clock.
package metrics
