//go:build !race

package server

const slow = 1
