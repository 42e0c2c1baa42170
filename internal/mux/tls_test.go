package mux

import (
	"crypto/tls"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/internal/certs"
)

// newCA makes a CA with a node certificate for 127.0.0.1 in a new folder.
func newCA(t *testing.T) (string, *certs.Node) {
	t.Helper()
	dir := t.TempDir()
	if err := certs.CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := certs.CreateNode(dir, "n1", []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	n, err := certs.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, n
}

func listenTLS(t *testing.T, n *certs.Node) *Mux {
	t.Helper()
	m, err := ListenTLS("127.0.0.1:0", nil, nil, n.PeerServerConfig(), n.PeerClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// refused dials addr with dial and checks that the group never gets the
// connection.
func refused(t *testing.T, name string, l *Layer, dial func() (io.ReadWriteCloser, error)) {
	t.Helper()
	c, err := dial()
	if err == nil {
		c.Write([]byte("x"))
		defer c.Close()
	}
	select {
	case got := <-l.conns:
		got.Close()
		t.Fatalf("%s: the group accepted the connection", name)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestTLSAcceptsOnlyNodesOfTheCluster: a node of the same CA opens a
// stream; a node certificate of another CA, a client (not node)
// certificate of the same CA and a plaintext dialer are all refused.
func TestTLSAcceptsOnlyNodesOfTheCluster(t *testing.T) {
	dir, n := newCA(t)
	m := listenTLS(t, n)
	l, _ := m.Layer("meta")
	addr := raft.ServerAddress(m.Addr().String())

	peer := listenTLS(t, n)
	pl, _ := peer.Layer("meta")
	c, err := pl.Dial(addr, time.Second)
	if err != nil {
		t.Fatalf("a node of the cluster cannot dial: %v", err)
	}
	c.Write([]byte("hi"))
	got, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(got, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.Close()
	got.Close()

	_, other := newCA(t)
	ol, _ := listenTLS(t, other).Layer("meta")
	refused(t, "a node of another CA", l, func() (io.ReadWriteCloser, error) { return ol.Dial(addr, time.Second) })

	plain, _ := Listen("127.0.0.1:0", nil, nil)
	defer plain.Close()
	xl, _ := plain.Layer("meta")
	refused(t, "a plaintext dialer", l, func() (io.ReadWriteCloser, error) { return xl.Dial(addr, time.Second) })

	if err := certs.CreateClient(dir, "ops"); err != nil {
		t.Fatal(err)
	}
	cc, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.ops.crt"), filepath.Join(dir, "client.ops.key"))
	if err != nil {
		t.Fatal(err)
	}
	conf := n.PeerClientConfig()
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cc, nil }
	refused(t, "a client certificate", l, func() (io.ReadWriteCloser, error) {
		tc, err := tls.Dial("tcp", string(addr), conf)
		if err != nil {
			return nil, err
		}
		_, err = tc.Write([]byte{magic, version, 4, 'm', 'e', 't', 'a'})
		return tc, err
	})
}
