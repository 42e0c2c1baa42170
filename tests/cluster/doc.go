// Package cluster runs a zone, or a multi-zone cluster, of real `rzone
// server` processes on one machine for the multi-node and fault tests: it
// builds the binary once, gives each node its own loopback address
// (127.A.B.x) and, when run as root, its own Unix user, so that iptables
// rules can cut the traffic between two chosen nodes (the sender's
// connections, told by their owner and marked so that a closed socket's
// retransmissions stay cut; the receiver's address and raft and API ports).
// It offers the faults the tests inject: kill -9 and restart on the same
// data directory, SIGSTOP/SIGCONT, partitions and heals. Each node's stdout
// and stderr go to files in the cluster's log folder ($RZONE_TEST_LOGS keeps
// them).
//
// With Config.Zones it starts zones × NodesPerZone nodes (ids a1, a2, ...,
// b1, ...), each with its zone and a gossip address, waits until gossip
// sees them all, runs POST /v1/cluster/init and waits until every zone has
// a ready leader with a valid ownership lease and its async followers
// (WaitZonesReady). Zone-aware helpers: ZoneNodes, ZoneLeader,
// WaitZoneConverged, MetaVoters, and per node ZoneList, Members, Routes,
// GetJSON/PostJSON and Metrics (a parsed /metrics scrape).
//
// The cluster ends only the processes it started, by PID, and removes only the
// iptables chain it created.
//
// The subpackage compose runs docker-compose.yml's containers instead, for
// the container test and the fault-test runner's docker backend.
package cluster
