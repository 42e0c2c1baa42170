// Package zone holds what makes a zone: how a user maps to a shard and a
// shard to a zone. Today one zone owns every shard; the route table of the
// meta group, leases, async followers, failover and reconciliation arrive
// here behind the same Router seam.
package zone
