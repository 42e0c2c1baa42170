package api

// Response and request headers of the API.
const (
	// HeaderNode names the node that served the request.
	HeaderNode = "X-Rzone-Node"
	// HeaderLeader is the API address of the leader, when known; clients
	// send their next requests there.
	HeaderLeader = "X-Rzone-Leader"
	// HeaderIsolated is set on reads of an account on a failover store's
	// blacklist: the zone's latest writes to it may be missing, so the
	// reply may be stale until reconciliation.
	HeaderIsolated = "X-Rzone-Isolated"
	// HeaderStale is "true" on a stale read's reply.
	HeaderStale = "X-Rzone-Stale"
	// HeaderAppliedIndex is the replica's applied log index behind a stale
	// read; HeaderCommitIndex the commit index it knew; HeaderLastContact
	// the milliseconds since it last heard from the leader (0 on the
	// leader, -1 if never). Together they say how far behind it may be.
	HeaderAppliedIndex = "X-Rzone-Applied-Index"
	HeaderCommitIndex  = "X-Rzone-Commit-Index"
	HeaderLastContact  = "X-Rzone-Last-Contact-Ms"
	// HeaderInsecure is "true" on every reply of a node that runs
	// --insecure: no TLS, no tokens.
	HeaderInsecure = "X-Rzone-Insecure"
)
