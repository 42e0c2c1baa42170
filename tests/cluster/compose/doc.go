// Package compose runs docker-compose.yml's cluster (3 zones × 3 nodes, a
// one-shot init) under a compose project, image tag and /24 network of its
// own, so that it never touches a developer's cluster: it detects a usable
// Docker, builds the static FROM-scratch image, brings the project up and
// down, and applies container faults (kill, pause, network disconnect).
// The container test (tests/docker) and the fault-test runner's docker
// backend (tests/jepsen/runner) share it.
package compose
