// Package tests holds rzone's multi-node tests against real processes. The
// harness is in cluster/, the Jepsen-style suite in jepsen/; the tests here
// are the end-to-end checks of single features, such as
// TestKillLeaderLosesNoPayment.
package tests
