package mux

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestRoutesByGroup(t *testing.T) {
	m, err := Listen("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, _ := m.Layer("zone/A")
	b, _ := m.Layer("meta")
	if _, err := m.Layer("meta"); err == nil {
		t.Fatal("a second layer for one group was allowed")
	}
	addr := raft.ServerAddress(m.Addr().String())
	for _, tc := range []struct {
		l    *Layer
		want string
	}{{a, "to A"}, {b, "to meta"}} {
		c, err := tc.l.Dial(addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(tc.want))
		got, err := tc.l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(tc.want))
		io.ReadFull(got, buf)
		if string(buf) != tc.want {
			t.Fatalf("group %s got %q", tc.l.group, buf)
		}
		c.Close()
		got.Close()
	}
	// A connection for a group not hosted here, or with a bad header, is closed.
	other := &Layer{m: m, group: "zone/Z"}
	c, err := other.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection to an unknown group stayed open")
	}
	raw, _ := net.Dial("tcp", string(addr))
	raw.Write([]byte("GET / HTTP/1.1\r\n"))
	raw.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection with a bad header stayed open")
	}
	// A closed layer accepts no more and frees its name.
	a.Close()
	if _, err := a.Accept(); err != ErrClosed {
		t.Fatalf("accept after close: %v", err)
	}
	if _, err := m.Layer("zone/A"); err != nil {
		t.Fatalf("reopen layer: %v", err)
	}
}
