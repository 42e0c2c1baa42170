// Package docker tests the container packaging: Dockerfile.local (a static
// rzone binary built on the host, FROM scratch; Dockerfile builds the same
// image from the source in a Go image) and docker-compose.yml (3 zones × 3 nodes and a
// one-shot init). TestComposeCluster builds the image, starts the cluster
// under a compose project of its own, runs a payment load through the Go
// client from inside the cluster's network, checks the zones, and removes
// everything it made. It skips, saying why, where Docker is not usable and
// under -short.
package docker
