package testnet

import (
	"net"
	"strconv"
	"testing"
)

// TestPortsComeFromBelowTheEphemeralRange: every port picked is below
// 32768, free (it can be bound), and no address is handed out twice.
func TestPortsComeFromBelowTheEphemeralRange(t *testing.T) {
	p := PortRun(t, 9)
	if p < lo || p+9 > hi {
		t.Fatalf("run %d..%d is outside [%d, %d)", p, p+8, lo, hi)
	}
	if !free(p, 9) {
		t.Fatalf("run at %d is not free", p)
	}
	seen := map[string]bool{}
	for _, a := range Addrs(t, 50) {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(port)
		if n < lo || n >= hi || seen[a] {
			t.Fatalf("address %s: outside [%d, %d) or handed out twice", a, lo, hi)
		}
		seen[a] = true
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("address %s is not free: %v", a, err)
		}
		l.Close()
	}
}
