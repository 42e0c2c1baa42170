// Package mux lets several Raft groups of one node share one TCP port. A
// dialer writes a short header naming the group before the Raft protocol
// starts; the accept loop reads it and hands the connection to that group's
// listener. Each group gets a raft.StreamLayer of its own, so every group
// runs an ordinary raft.NetworkTransport. With TLS configs (ListenTLS)
// every connection is mutual TLS before the header is sent: both sides
// present a node certificate, and a plaintext dialer is refused.
//
// mux imports no other rzone package.
package mux

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// header: magic, version, group name length, group name.
const (
	magic        byte = 0xA7
	version      byte = 1
	maxGroupName      = 255
	// headerTimeout bounds how long an accepted connection may take to
	// name its group.
	headerTimeout = 5 * time.Second
)

// ErrClosed is returned by Accept after the mux or the layer closed.
var ErrClosed = errors.New("mux: closed")

// Mux owns the listener and routes accepted connections by group.
type Mux struct {
	ln  net.Listener
	adv net.Addr
	log *slog.Logger
	// server and client are the TLS configs of accepted and dialed
	// connections; nil for plaintext.
	server, client *tls.Config

	mu     sync.Mutex
	layers map[string]*Layer
	closed bool
}

// Listen starts a Mux on addr. advertise is the address other nodes dial
// (nil: the listener's address).
func Listen(addr string, advertise net.Addr, log *slog.Logger) (*Mux, error) {
	return ListenTLS(addr, advertise, log, nil, nil)
}

// ListenTLS is Listen with TLS: server secures accepted connections,
// client the connections the layers dial. Both nil means plaintext.
func ListenTLS(addr string, advertise net.Addr, log *slog.Logger, server, client *tls.Config) (*Mux, error) {
	if (server == nil) != (client == nil) {
		return nil, errors.New("mux: give both TLS configs or neither")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mux listen %s: %w", addr, err)
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mux{ln: ln, adv: advertise, log: log, layers: map[string]*Layer{}, server: server, client: client}
	go m.serve()
	return m, nil
}

// Addr is the advertised address.
func (m *Mux) Addr() net.Addr { return m.adv }

func (m *Mux) serve() {
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			m.mu.Lock()
			closed := m.closed
			m.mu.Unlock()
			if closed {
				return
			}
			m.log.Warn("mux accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go m.route(conn)
	}
}

func (m *Mux) route(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(headerTimeout))
	if m.server != nil {
		tc := tls.Server(conn, m.server)
		if err := tc.Handshake(); err != nil {
			m.log.Debug("mux: TLS handshake refused", "remote", conn.RemoteAddr(), "err", err)
			conn.Close()
			return
		}
		conn = tc
	}
	var h [3]byte
	if _, err := io.ReadFull(conn, h[:]); err != nil || h[0] != magic || h[1] != version {
		m.log.Debug("mux: bad header", "remote", conn.RemoteAddr(), "err", err)
		conn.Close()
		return
	}
	name := make([]byte, h[2])
	if _, err := io.ReadFull(conn, name); err != nil {
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	m.mu.Lock()
	l := m.layers[string(name)]
	m.mu.Unlock()
	if l == nil {
		m.log.Debug("mux: connection for a group not hosted here", "group", string(name), "remote", conn.RemoteAddr())
		conn.Close()
		return
	}
	select {
	case l.conns <- conn:
	case <-l.done:
		conn.Close()
	}
}

// Layer returns the stream layer of group, creating it. A group's layer
// must be closed (by its transport) before the group is opened again.
func (m *Mux) Layer(group string) (*Layer, error) {
	if len(group) == 0 || len(group) > maxGroupName {
		return nil, fmt.Errorf("mux: group name %q must be 1 to %d bytes", group, maxGroupName)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if _, ok := m.layers[group]; ok {
		return nil, fmt.Errorf("mux: group %q already has a layer", group)
	}
	l := &Layer{m: m, group: group, conns: make(chan net.Conn, 16), done: make(chan struct{})}
	m.layers[group] = l
	return l, nil
}

// Close stops accepting and closes every layer.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	layers := m.layers
	m.layers = map[string]*Layer{}
	m.mu.Unlock()
	for _, l := range layers {
		l.closeOnce()
	}
	return m.ln.Close()
}

// Layer is one group's raft.StreamLayer over the shared port.
type Layer struct {
	m     *Mux
	group string
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

var _ raft.StreamLayer = (*Layer)(nil)

// Accept waits for the next connection for this group.
func (l *Layer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, ErrClosed
	}
}

// Close detaches the layer from the mux.
func (l *Layer) Close() error {
	l.m.mu.Lock()
	if l.m.layers[l.group] == l {
		delete(l.m.layers, l.group)
	}
	l.m.mu.Unlock()
	l.closeOnce()
	return nil
}

func (l *Layer) closeOnce() { l.once.Do(func() { close(l.done) }) }

// Addr is the shared advertised address.
func (l *Layer) Addr() net.Addr { return l.m.adv }

// Dial connects to the same group on the node at address.
func (l *Layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	if l.m.client != nil {
		host, _, err := net.SplitHostPort(string(address))
		if err != nil {
			conn.Close()
			return nil, err
		}
		c := l.m.client.Clone()
		c.ServerName = host
		tc := tls.Client(conn, c)
		conn.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("mux: TLS with %s: %w", address, err)
		}
		conn.SetDeadline(time.Time{})
		conn = tc
	}
	h := append([]byte{magic, version, byte(len(l.group))}, l.group...)
	conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(h); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetWriteDeadline(time.Time{})
	return conn, nil
}
