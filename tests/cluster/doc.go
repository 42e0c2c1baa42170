// Package cluster runs a zone of real `rzone server` processes on one machine
// for the multi-node and fault tests: it builds the binary once, gives each
// node its own loopback address (127.A.B.x) and, when run as root, its own
// Unix user, so that iptables rules can cut the traffic between two chosen
// nodes (owner match on the sender, destination address and port on the
// receiver). It offers the faults the tests inject: kill -9 and restart on the
// same data directory, SIGSTOP/SIGCONT, partitions and heals. Each node's
// stdout and stderr go to files in the cluster's log folder.
//
// The cluster ends only the processes it started, by PID, and removes only the
// iptables chain it created.
package cluster
