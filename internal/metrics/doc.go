// Package metrics holds a node's Prometheus series: its own counters and
// histograms in a registry of their own (node.go: requests, proposals,
// guard marks, leases, failover phases, the build), the state of every
// Raft replica it hosts, read at each scrape with the role it is hosted in
// (raft.go), and the process's sink for the go-metrics that hashicorp/raft,
// raft-wal, raft-boltdb and memberlist emit (golib.go). Package server makes them
// and counts into them; the zone replicas' storage series are zone's
// (zone/metrics.go, zone/storemetrics.go), registered here as collectors.
//
// metrics imports no rzone package but internal/clock and
// internal/buildinfo.
package metrics
