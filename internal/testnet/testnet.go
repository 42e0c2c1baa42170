// Package testnet picks loopback ports for tests that start nodes on
// addresses chosen before the nodes bind them.
//
// The ports come from below the kernel's ephemeral range (32768 and up on
// Linux), from which every outgoing connection and every ":0" listener of
// the tests running beside one takes its port: a port picked there (by
// listening on ":0" and closing) can be taken by one of those between the
// pick and the node's bind, which under a loaded CI happens.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// The range picked from: below Linux's default ephemeral range.
const lo, hi = 20000, 32768

// PortRun returns the first of n consecutive loopback ports that are free
// now.
func PortRun(t testing.TB, n int) int {
	t.Helper()
	for try := 0; try < 200; try++ {
		p := lo + rand.IntN(hi-lo-n)
		if free(p, n) {
			return p
		}
	}
	t.Fatal("testnet: no run of free ports")
	return 0
}

// Addrs returns n distinct loopback addresses ("127.0.0.1:port") that are
// free now.
func Addrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for try := 0; len(out) < n && try < 200*n; try++ {
		addr := fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		held = append(held, l) // held until all are picked: no address twice
		out = append(out, addr)
	}
	if len(out) < n {
		t.Fatalf("testnet: %d free ports of %d", len(out), n)
	}
	return out
}

func free(p, n int) bool {
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+i))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
