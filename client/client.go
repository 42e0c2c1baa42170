package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// Client talks to one rzone cluster. It is safe for concurrent use; create
// one and share it.
type Client struct {
	addrs      []string
	hc         *http.Client
	maxRetries int
	backoff    time.Duration
	maxBackoff time.Duration
	timeout    time.Duration

	mu     sync.Mutex
	leader string // API address of the last known leader, "" if unknown
	next   int    // round-robin position among addrs
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a pooled client of its own).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithMaxRetries sets how many times a retryable failure is retried, with the
// same idempotency key; 0 disables retries. Default 8.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = max(0, n) } }

// WithBackoff sets the first retry delay and its cap; delays double with
// jitter. Default 50ms and 2s.
func WithBackoff(first, cap time.Duration) Option {
	return func(c *Client) { c.backoff, c.maxBackoff = first, cap }
}

// WithTimeout bounds each attempt (default 10s); the caller's context
// bounds the whole call.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// New returns a client for the nodes at addrs (host:port of their APIs).
func New(addrs []string, opts ...Option) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("rzone client: no addresses")
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("rzone client: address %q: %w", a, err)
		}
	}
	c := &Client{
		addrs:      append([]string(nil), addrs...),
		maxRetries: 8,
		backoff:    50 * time.Millisecond,
		maxBackoff: 2 * time.Second,
		timeout:    10 * time.Second,
		hc: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// ReadOption changes how a read is served.
type ReadOption func(*readOpts)

type readOpts struct {
	stale bool
	node  string
}

// Stale lets any node answer the read from its local replica, which may lag
// the leader. Without it reads are linearizable.
func Stale() ReadOption { return func(o *readOpts) { o.stale = true } }

// At sends the read to the node at addr only (with Stale: read that node's
// replica). No other node is tried.
func At(addr string) ReadOption { return func(o *readOpts) { o.node = addr } }

func (c *Client) target(attempt int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != "" && attempt == 0 {
		return c.leader
	}
	a := c.addrs[c.next%len(c.addrs)]
	c.next++
	return a
}

func (c *Client) setLeader(addr string) {
	c.mu.Lock()
	c.leader = addr
	c.mu.Unlock()
}

// call is one API call with retries.
type call struct {
	method string
	path   string
	query  url.Values
	body   any
	out    any
	write  bool
	read   readOpts
}

func (c *Client) do(ctx context.Context, cl call) (int, error) {
	var body []byte
	if cl.body != nil {
		var err error
		if body, err = json.Marshal(cl.body); err != nil {
			return 0, fmt.Errorf("rzone client: encode request: %w", err)
		}
	}
	if cl.read.stale {
		if cl.query == nil {
			cl.query = url.Values{}
		}
		cl.query.Set("stale", "true")
	}
	var lastErr error
	delay := c.backoff
	for attempt := 0; attempt <= c.maxRetries; attempt++ {
		if attempt > 0 {
			sleep := delay/2 + rand.N(delay/2+1)
			select {
			case <-ctx.Done():
				return 0, lastErr
			case <-time.After(sleep):
			}
			delay = min(2*delay, c.maxBackoff)
		}
		node := cl.read.node
		if node == "" {
			node = c.target(attempt)
		}
		status, err := c.once(ctx, node, cl, body)
		if err == nil {
			return status, nil
		}
		lastErr = err
		if !IsRetryable(err) || ctx.Err() != nil {
			return status, err
		}
		c.setLeader("")
	}
	return 0, lastErr
}

func (c *Client) once(ctx context.Context, node string, cl call, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := "http://" + node + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("rzone client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, transportError(node, err, cl.write)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, transportError(node, err, cl.write)
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
			return resp.StatusCode, &Error{Code: api.CodeInternal, Status: resp.StatusCode, Node: node,
				Message: fmt.Sprintf("unexpected reply %s: %.200s", resp.Status, data)}
		}
		return resp.StatusCode, &Error{Code: eb.Error.Code, Message: eb.Error.Message, Status: resp.StatusCode, Node: node}
	}
	if l := resp.Header.Get("X-Rzone-Leader"); l != "" {
		c.setLeader(l)
	} else if !cl.read.stale && cl.read.node == "" {
		c.setLeader(node) // it answered a leader-only request itself
	}
	if cl.out != nil {
		if err := json.Unmarshal(data, cl.out); err != nil {
			return resp.StatusCode, &Error{Code: api.CodeInternal, Status: resp.StatusCode, Node: node,
				Message: fmt.Sprintf("decode reply: %v", err)}
		}
	}
	return resp.StatusCode, nil
}

// transportError classifies a failure to get a reply. A write that could not
// even connect was not applied; any later failure leaves it unknown.
func transportError(node string, err error, write bool) error {
	code := api.CodeUnavailable
	var op *net.OpError
	if write && !(errors.As(err, &op) && op.Op == "dial") {
		code = api.CodeUnknownOutcome
	}
	return &Error{Code: code, Message: err.Error(), Node: node}
}

func userPath(user uint64, rest string) string {
	return "/v1/accounts/" + strconv.FormatUint(user, 10) + rest
}

func readOptions(opts []ReadOption) readOpts {
	var o readOpts
	for _, f := range opts {
		f(&o)
	}
	return o
}
