package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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
	noRouting  bool
	// tls, if set, makes the client speak HTTPS; token, if set, is sent
	// as a bearer token.
	tls   *tls.Config
	token string
	own   bool // hc is the client's own, so New may set its TLS config
	// conns caps the client's own HTTP connections to one node.
	conns int

	mu     sync.Mutex
	leader string // API address of the last node that led, "" if unknown
	next   int    // round-robin position among addrs
	// routes is the cached route table; nil until fetched. routesAt is when
	// a fetch was last tried, so a cluster without one is not asked often.
	routes   *RouteTable
	routesAt time.Time
	// co, if set, lets concurrent payments share requests (WithCoalescing).
	co *coalescer
	// direct counts requests sent straight to the owner's known leader.
	direct, routed atomic.Int64
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a pooled client of its own).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc, c.own = hc, false } }

// WithTLS makes the client speak HTTPS with conf (LoadCA makes one that
// trusts a cluster's CA). With WithHTTPClient, that client's transport
// must carry the TLS config itself; WithTLS then only switches to https.
func WithTLS(conf *tls.Config) Option { return func(c *Client) { c.tls = conf } }

// WithToken sends token in every request's Authorization header (Bearer).
// A request refused for its token (unauthenticated, permission_denied) is
// never retried.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// LoadCA returns a TLS config that trusts the CA certificate in the PEM
// file at path (a cluster's ca.crt), for WithTLS.
func LoadCA(path string) (*tls.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rzone client: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("rzone client: %s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, ClientSessionCache: tls.NewLRUClientSessionCache(0)}, nil
}

// WithMaxRetries sets how many times a retryable failure is retried, with the
// same idempotency key; 0 disables retries. Default 8.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = max(0, n) } }

// WithBackoff sets the first retry delay and its cap; delays double with
// jitter. Default 50ms and 2s.
func WithBackoff(first, cap time.Duration) Option {
	return func(c *Client) { c.backoff, c.maxBackoff = first, cap }
}

// WithRouting turns routing by the route table on (the default) or off.
// Off, every request goes to the given addresses, which forward it to the
// owning zone: for clients that cannot reach the nodes' advertised
// addresses (behind NAT, outside a container network).
func WithRouting(on bool) Option { return func(c *Client) { c.noRouting = !on } }

// DefaultConnsPerNode is how many HTTP connections to one node a client
// keeps at most (WithMaxConnsPerNode).
const DefaultConnsPerNode = 512

// WithMaxConnsPerNode caps the HTTP connections the client opens to one
// node (default DefaultConnsPerNode; n of 0 or less keeps it). A request
// beyond the cap waits for a connection to be free, within its attempt's
// timeout; one that gets none was not sent and fails as unavailable (a
// write too: it was not applied), and is retried like one. Every
// connection opened is kept for reuse, so more concurrent callers than the
// cap do not open and close a connection per request. No effect with
// WithHTTPClient.
func WithMaxConnsPerNode(n int) Option {
	return func(c *Client) {
		if n > 0 {
			c.conns = n
		}
	}
}

// WithTimeout bounds each attempt (default 5s); the caller's context
// bounds the whole call. A write whose attempt times out is retried with
// the same key.
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
		timeout:    5 * time.Second,
		own:        true,
		conns:      DefaultConnsPerNode,
		hc: &http.Client{Transport: &http.Transport{
			DialContext:     (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			IdleConnTimeout: 90 * time.Second,
		}},
	}
	for _, o := range opts {
		o(c)
	}
	if c.own {
		// As many idle connections are kept as may be open: with fewer,
		// callers beyond the idle limit would each open a connection
		// and close it after one request.
		t := c.hc.Transport.(*http.Transport)
		t.MaxConnsPerHost, t.MaxIdleConnsPerHost = c.conns, c.conns
		if c.tls != nil {
			t.TLSClientConfig = c.tls
		}
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

// target picks the node for an attempt: for a user's request, its zone's
// leader from the route table; else the last leader seen; after a failure,
// the next address in turn.
func (c *Client) target(cl *call, attempt int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	// After a failure, every other attempt goes to the given addresses, so
	// a client that cannot reach the advertised addresses of the route
	// table (outside a container network) still gets through by forwarding.
	if cl.user != nil && c.routes != nil && attempt%2 == 0 {
		if zr := zoneOf(c.routes, *cl.user); zr != nil {
			if zr.LeaderHTTP != "" && attempt == 0 {
				c.direct.Add(1)
				return zr.LeaderHTTP
			}
			if len(zr.Nodes) > 0 {
				c.routed.Add(1)
				return zr.Nodes[(c.next+attempt)%len(zr.Nodes)]
			}
		}
	}
	if c.leader != "" && attempt == 0 {
		return c.leader
	}
	a := c.addrs[c.next%len(c.addrs)]
	c.next++
	return a
}

func zoneOf(rt *RouteTable, user uint64) *ZoneRoute {
	if len(rt.Shards) == 0 {
		return nil
	}
	z := rt.Shards[user%uint64(len(rt.Shards))].Zone
	for i := range rt.Zones {
		if rt.Zones[i].Zone == z {
			return &rt.Zones[i]
		}
	}
	return nil
}

// setLeader records who answered as leader: for a user's request, in its
// zone's route; always as the last leader seen.
func (c *Client) setLeader(cl *call, addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noRouting && addr != "" && !slices.Contains(c.addrs, addr) {
		return // without routing, stay on the given addresses
	}
	c.leader = addr
	if cl != nil && cl.user != nil && c.routes != nil {
		if zr := zoneOf(c.routes, *cl.user); zr != nil {
			zr.LeaderHTTP = addr
		}
	}
}

// forgetRoutesOlderThan drops the cached route table if it was fetched
// longer than d ago.
func (c *Client) forgetRoutesOlderThan(d time.Duration) {
	c.mu.Lock()
	if c.routes != nil && time.Since(c.routesAt) > d {
		c.routes = nil
		c.routesAt = time.Time{}
	}
	c.mu.Unlock()
}

// forgetRoutes drops the cached route table; the next user request
// fetches it again.
func (c *Client) forgetRoutes() {
	c.mu.Lock()
	c.routes = nil
	c.routesAt = time.Time{}
	c.mu.Unlock()
}

// ensureRoutes fetches the route table if it is not cached and was not
// tried in the last few seconds. A cluster without one (not initialized)
// is served through any node.
func (c *Client) ensureRoutes(ctx context.Context) {
	c.mu.Lock()
	if c.routes != nil || time.Since(c.routesAt) < 2*time.Second {
		c.mu.Unlock()
		return
	}
	c.routesAt = time.Now()
	c.mu.Unlock()
	for _, a := range c.addrs {
		var rt RouteTable
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.once(cctx, a, call{method: http.MethodGet, path: "/v1/routes", out: &rt, admin: true}, nil)
		cancel()
		if err == nil && len(rt.Shards) > 0 {
			c.mu.Lock()
			c.routes = &rt
			c.mu.Unlock()
			return
		}
	}
}

// RouteStats reports how many user requests went straight to their zone's
// known leader and how many to another node of the zone.
func (c *Client) RouteStats() (direct, other int64) { return c.direct.Load(), c.routed.Load() }

// call is one API call with retries.
type call struct {
	method string
	path   string
	query  url.Values
	body   any
	out    any
	write  bool
	read   readOpts
	// user is set for user-scoped calls, which are routed by shard.
	user *uint64
	// admin calls go to any node.
	admin bool
	// shared marks a batch: its users may be of several zones, and the
	// node that answers forwards the shares it does not lead, so its
	// answer says nothing of who leads.
	shared bool
	// timeout, if set, replaces the client's per-attempt timeout.
	timeout time.Duration
	// noKey marks a write without an idempotency key (a config set): it
	// is retried only when it was not applied, and an unknown outcome is
	// returned to the caller, since sending it again could apply it twice.
	noKey bool
	// pay is set for a payment (Pay), whose first attempt may share a
	// request with others' (WithCoalescing).
	pay *PayRequest
}

// jsonBody encodes a request's body; nil for none.
func jsonBody(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rzone client: encode request: %w", err)
	}
	return body, nil
}

func (c *Client) do(ctx context.Context, cl call) (int, error) {
	body, err := jsonBody(cl.body)
	if err != nil {
		return 0, err
	}
	if cl.read.stale {
		if cl.query == nil {
			cl.query = url.Values{}
		}
		cl.query.Set("stale", "true")
	}
	var lastErr error
	// unknown is set once an attempt of a write may have been applied: no
	// later refusal can tell that it was not (the first attempt may have
	// charged while a retry met an unavailable node), so the call ends
	// unknown unless a later attempt gets the key's own answer.
	unknown := false
	fail := func(status int, err error) (int, error) {
		if unknown && !answered(err) {
			return status, unknownAfter(err)
		}
		return status, err
	}
	delay := c.backoff
	for attempt := 0; attempt <= c.maxRetries; attempt++ {
		if attempt > 0 {
			sleep := delay/2 + rand.N(delay/2+1)
			select {
			case <-ctx.Done():
				return fail(0, lastErr)
			case <-time.After(sleep):
			}
			delay = min(2*delay, c.maxBackoff)
		}
		if cl.user != nil && !c.noRouting {
			c.ensureRoutes(ctx)
		}
		node := cl.read.node
		if node == "" {
			node = c.target(&cl, attempt)
		}
		var status int
		var err error
		if attempt == 0 && cl.pay != nil && c.co != nil {
			status, err = c.coalescedPay(ctx, node, cl, body, *cl.user, *cl.pay)
		} else {
			status, err = c.once(ctx, node, cl, body)
		}
		if err == nil {
			return status, nil
		}
		lastErr = err
		if cl.write && errors.Is(err, ErrUnknownOutcome) {
			unknown = true
		}
		if !IsRetryable(err) || ctx.Err() != nil || (cl.noKey && errors.Is(err, ErrUnknownOutcome)) {
			return fail(status, err)
		}
		if errors.Is(err, ErrWrongZone) || errors.Is(err, ErrLeaseExpired) {
			c.forgetRoutes()
		} else if cl.user != nil {
			// A zone's leader that cannot be reached may be gone for good
			// (the zone lost and failed over): look the route up again,
			// at most twice a second.
			c.forgetRoutesOlderThan(500 * time.Millisecond)
		}
		if e := (*Error)(nil); !errors.As(err, &e) || !e.waited {
			c.setLeader(&cl, "")
		}
	}
	return fail(0, lastErr)
}

// answered reports whether err is an answer about the request itself, which
// a node gives the same way to every attempt with its idempotency key (the
// key's original result, or a refusal of its parameters): it settles an
// earlier unknown outcome. Every other error (unavailable, a lease, a token,
// a timeout) says only that this attempt was not applied.
func answered(err error) bool {
	var e *Error
	return errors.As(err, &e) && answeredCode(e.Code)
}

// answeredCode reports whether an error code is such an answer. Not
// invalid_argument or not_found: a node may give those for what it lacks
// rather than for the request (a failover store without the account, a
// node without a bank, a body it failed to read), while another node may
// have applied the write.
func answeredCode(c Code) bool {
	switch c {
	case CodeInsufficientCredit, CodeOverpayment, CodeIdempotencyConflict, CodePayloadTooLarge:
		return true
	}
	return false
}

// unknownAfter is the error of a write whose earlier attempt's outcome is
// unknown and whose last attempt failed with last.
func unknownAfter(last error) error {
	e := &Error{Code: CodeUnknownOutcome, Message: "an earlier attempt may have been applied; the last attempt: " + last.Error()}
	var le *Error
	if errors.As(last, &le) {
		e.Node = le.Node
	}
	return e
}

// attemptTimeout is how long one attempt of cl may take.
func (c *Client) attemptTimeout(cl call) time.Duration {
	if cl.timeout > 0 {
		return cl.timeout
	}
	return c.timeout
}

func (c *Client) once(ctx context.Context, node string, cl call, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.attemptTimeout(cl))
	defer cancel()
	scheme := "http://"
	if c.tls != nil {
		scheme = "https://"
	}
	u := scheme + node + cl.path
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
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// With the client's own transport, a request that never got a
	// connection (a dial that failed, or none free within the timeout) was
	// never sent: not applied, whatever it was. Another round tripper may
	// send without reporting a connection, so only the own one is traced.
	var gotConn atomic.Bool
	if c.own {
		req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
		}))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if c.own && !gotConn.Load() {
			var op *net.OpError
			return 0, &Error{Code: CodeUnavailable, Message: "not sent: " + err.Error(), Node: node,
				waited: !(errors.As(err, &op) && op.Op == "dial")}
		}
		return 0, transportError(node, err, cl.write)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, transportError(node, err, cl.write)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
			// Not a node's error (a proxy's 502 or 504, say): a write
			// behind it may have been applied.
			code := CodeInternal
			if cl.write && resp.StatusCode >= 500 {
				code = CodeUnknownOutcome
			}
			return resp.StatusCode, &Error{Code: code, Status: resp.StatusCode, Node: node,
				Message: fmt.Sprintf("unexpected reply %s: %.200s", resp.Status, data)}
		}
		return resp.StatusCode, &Error{Code: eb.Error.Code, Message: eb.Error.Message, Status: resp.StatusCode, Node: node}
	}
	if l := resp.Header.Get("X-Rzone-Leader"); l != "" {
		c.setLeader(&cl, l)
	} else if !cl.read.stale && cl.read.node == "" && !cl.admin && !cl.shared {
		c.setLeader(&cl, node) // it answered a leader-only request itself
	}
	if cl.out != nil {
		if err := json.Unmarshal(data, cl.out); err != nil {
			// The node answered success with a reply that cannot be
			// read: a write was applied, or may have been.
			code := CodeInternal
			if cl.write {
				code = CodeUnknownOutcome
			}
			return resp.StatusCode, &Error{Code: code, Status: resp.StatusCode, Node: node,
				Message: fmt.Sprintf("decode reply: %v", err)}
		}
	}
	return resp.StatusCode, nil
}

// transportError classifies a failure to get a reply. A write that could not
// even connect was not applied; any later failure leaves it unknown.
func transportError(node string, err error, write bool) error {
	code := CodeUnavailable
	var op *net.OpError
	if write && !(errors.As(err, &op) && op.Op == "dial") {
		code = CodeUnknownOutcome
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
