// Package gossip is rzone's node membership: every node runs one Gossip, a
// hashicorp/memberlist member that gossips the node's Meta (id, zone,
// roles, HTTP and Raft addresses, scheduler capacity) and keeps a view of
// every other member and its health. It is the view a node shows as its
// members, the list a scheduler picks workers from (Alive), and the failure
// detector, with a documented bound (DetectionTime).
//
// # Use
//
//	cfg := gossip.DefaultConfig()
//	cfg.BindAddr = "10.0.0.5:7946"
//	cfg.Seeds = []string{"10.0.0.4:7946", "10.0.0.6:7946"}
//	cfg.Key = key // 16, 24 or 32 bytes, the same on every node
//	cfg.Meta = gossip.Meta{NodeID: "a1", Zone: "A", Roles: []string{"voter:zone-A", "worker"}, Capacity: 8}
//	g, err := gossip.Start(cfg) // joins the seeds in the background
//	...
//	for ev := range g.Events() { ... }
//	...
//	g.Leave(5 * time.Second) // the others report "left"; skip it to be reported "dead"
//	g.Shutdown()
//
// # What memberlist tells, and what it does not
//
// memberlist runs SWIM: each member probes one other per ProbeInterval;
// a member that misses a direct probe, the indirect probes through
// IndirectChecks others and a TCP probe becomes suspect; if it does not
// refute in time, memberlist declares it dead and gossips that. Through its
// delegates (v0.6.0) an application learns only this:
//
//   - NotifyJoin: a member became alive (first seen, or back from dead or
//     left).
//   - NotifyUpdate: an alive member's meta changed.
//   - NotifyLeave: a member is gone. memberlist keeps "dead" (failed) and
//     "left" (sent its own leave message) apart internally, but the Node
//     it hands over does not say which: Node.State is never set (an inner
//     field shadows it) and is always StateAlive, in Members() too.
//   - NotifyPingComplete: one of this node's probes got a direct ack.
//     Failed probes, indirect acks and suspicions are not reported.
//
// So memberlist's own suspect state is invisible, and dead and left look
// alike. This package adds:
//
//   - StateLeft versus StateDead: Leave first gossips a leave marker in the
//     node's meta (memberlist UpdateNode) and waits for the broadcast, then
//     sends memberlist's leave message. A member whose meta carries the
//     marker when it goes is reported left, any other dead. A member that
//     missed the marker (it was partitioned then, or the broadcast timed
//     out) reports the leaver dead.
//   - StateSuspect: a member memberlist still counts alive whose direct
//     probes by this node have had no ack for (2n-1) probe intervals (n live
//     members): more than two of memberlist's probe rounds. It is this
//     node's own observation, may differ between members, and clears on the
//     next ack (EventAlive). It is often skipped on a clean kill, where
//     memberlist declares the member dead first.
//
// Members that are dead or left stay in Members for Config.ForgetAfter, and
// the dead ones are retried for reconnection every ReconnectInterval so a
// healed partition merges again; memberlist itself forgets them after
// GossipToTheDeadTime.
//
// # Timing
//
// DefaultConfig uses memberlist.DefaultLANConfig: ProbeInterval 1s,
// ProbeTimeout 500ms, SuspicionMult 4, SuspicionMaxTimeoutMult 6,
// GossipInterval 200ms, PushPullInterval 30s. Fast (tests, one machine)
// probes every 200ms with ProbeTimeout 100ms, SuspicionMult 4,
// SuspicionMaxTimeoutMult 3 and GossipInterval 50ms: tighter timing made
// members of a busy 2-core machine declare each other dead by mistake.
//
// DetectionTime is a worst-case bound: with 4 members it is 31s for
// DefaultConfig and 3.8s for Fast; with 9 (three zones of three), 41s and
// 5.8s. It takes memberlist's longest suspicion, which memberlist runs only
// while no other member confirms it. In practice the others confirm, and a
// killed member is declared dead about SuspicionMult * ProbeInterval after
// the first failed probe. Measured on loopback with 4 members on a busy
// 2-core machine: 5.8s with DefaultConfig, 0.8 to 1.3s with Fast under
// -race.
//
// # Security
//
// Without Config.Key, gossip is plaintext and anyone who can reach the port
// can join and learn every node's addresses. With a key, every packet and
// stream is AES-GCM encrypted and authenticated, and members without the
// key are refused.
//
// gossip imports no other rzone package.
package gossip
