// Package peer carries rzone's node-to-node HTTP calls: forwarding,
// /v1/internal/*, guard marks, leases and the scheduler's reports all go
// through one Client, with one timeout policy and one place for TLS. The
// write proxy (relay.go: Client.Relay) passes a request and its reply on as
// they are. The Raft stream multiplexer (internal/mux) takes the same TLS
// configs.
//
// peer imports only internal/api, never a package of the node (server,
// zone, fsm, scheduler).
package peer

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"
)

// Timeouts of a peer connection. A call's own deadline comes from its
// context; these bound the steps before a request is sent.
const (
	// DialTimeout bounds connecting to a peer.
	DialTimeout = 2 * time.Second
	// HandshakeTimeout bounds the TLS handshake with a peer.
	HandshakeTimeout = 5 * time.Second
	// IdleTimeout is how long an idle keep-alive connection is kept.
	IdleTimeout = 90 * time.Second
)

// Client is a node's HTTP client for calls to other nodes. With a TLS
// config it speaks HTTPS and presents the node's certificate; without one
// it speaks plain HTTP (an --insecure cluster). It is safe for concurrent
// use; connections are kept alive and reused.
type Client struct {
	hc     *http.Client
	scheme string
}

// NewClient returns a Client; tlsConf nil means plaintext.
func NewClient(tlsConf *tls.Config) *Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: HandshakeTimeout,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     IdleTimeout,
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	return &Client{hc: &http.Client{Transport: tr}, scheme: scheme}
}

// Scheme is "https" with TLS, else "http".
func (c *Client) Scheme() string { return c.scheme }

// URL is the address of path on the node whose API listens at addr.
func (c *Client) URL(addr, path string) string { return c.scheme + "://" + addr + path }

// NewRequest builds a request for path on the node at addr.
func (c *Client) NewRequest(ctx context.Context, method, addr, path string, body io.Reader) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, method, c.URL(addr, path), body)
}

// Do sends req. The caller closes the reply's body.
func (c *Client) Do(req *http.Request) (*http.Response, error) { return c.hc.Do(req) }

// Answers reports whether the node at addr answers GET /healthz: a
// liveness probe, any reply counts.
func (c *Client) Answers(ctx context.Context, addr string) bool {
	req, _ := c.NewRequest(ctx, http.MethodGet, addr, "/healthz", nil)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err == nil
}

// CloseIdle closes the idle connections, so the next calls handshake
// again (after a certificate rotation, for one).
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }
