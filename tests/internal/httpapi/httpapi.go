// Package httpapi is the fault tests' own minimal client of rzone's HTTP API
// v1: one node, one attempt per call, no retries, no leader cache. Tests and
// workloads use it so that every attempt they make is an attempt they record,
// sent to the node they chose.
package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// ErrTransport marks an attempt that got no HTTP reply (connection refused,
// reset, timeout) or an unreadable one. For a write it means the outcome is
// unknown.
var ErrTransport = errors.New("httpapi: transport error")

// Client sends requests to one node. Its zero value is not usable; use New.
// It is safe for concurrent use.
type Client struct {
	// Addr is the node's HTTP address, host:port.
	Addr   string
	http   *http.Client
	scheme string // "http", or "https" with WithTLS
	token  string // sent as a bearer token when set
}

// Option configures a Client made by New.
type Option func(*Client, *http.Transport)

// WithTLS makes the client speak HTTPS with cfg (a secure cluster).
func WithTLS(cfg *tls.Config) Option {
	return func(c *Client, tr *http.Transport) {
		if cfg != nil {
			tr.TLSClientConfig = cfg.Clone()
			c.scheme = "https"
		}
	}
}

// WithToken makes the client send token as "Authorization: Bearer".
func WithToken(token string) Option {
	return func(c *Client, _ *http.Transport) { c.token = token }
}

// New returns a client of the node at addr whose every request gives up after
// timeout.
func New(addr string, timeout time.Duration, opts ...Option) *Client {
	tr := &http.Transport{
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	c := &Client{Addr: addr, scheme: "http"}
	for _, o := range opts {
		o(c, tr)
	}
	c.http = &http.Client{Transport: tr, Timeout: timeout}
	return c
}

// URL is the node's address for path, with the client's scheme.
func (c *Client) URL(path string) string { return c.scheme + "://" + c.Addr + path }

// Authorize sets req's Authorization header from the client's token, if any.
func (c *Client) Authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// CloseIdle closes the client's idle connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// do sends one request and decodes a 2xx reply into out. It returns the HTTP
// status, an *api.Error for an API error reply, or an error wrapping
// ErrTransport.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) (int, error) {
	u := c.URL(path)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("new request %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.Authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %s: %w", ErrTransport, method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%w: read reply to %s %s: %v", ErrTransport, method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
			return resp.StatusCode, eb.Error
		}
		return resp.StatusCode, &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("HTTP %d from %s %s: %.200s", resp.StatusCode, method, u, data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%w: decode reply to %s %s: %v", ErrTransport, method, u, err)
		}
	}
	return resp.StatusCode, nil
}

func readQuery(stale bool) url.Values {
	if !stale {
		return nil
	}
	return url.Values{"stale": {"true"}}
}

func userPath(user uint64) string { return "/v1/accounts/" + strconv.FormatUint(user, 10) }

// PutAccount creates user's account or sets its credit limit.
func (c *Client) PutAccount(ctx context.Context, user uint64, limit int64) (*api.Account, error) {
	var a api.Account
	if _, err := c.do(ctx, http.MethodPut, userPath(user), nil, api.PutAccountRequest{CreditLimit: limit}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// GetAccount reads user's account; stale reads the node's local replica.
func (c *Client) GetAccount(ctx context.Context, user uint64, stale bool) (*api.Account, error) {
	var a api.Account
	if _, err := c.do(ctx, http.MethodGet, userPath(user), readQuery(stale), nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Pay sends one payment attempt. created is true for 201 (a new payment) and
// false for 200 (a replay of the key).
func (c *Client) Pay(ctx context.Context, user uint64, req api.PayRequest) (p *api.Payment, created bool, err error) {
	var out api.Payment
	code, err := c.do(ctx, http.MethodPost, userPath(user)+"/payments", nil, req, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, code == http.StatusCreated, nil
}

// GetPayment reads one payment by key.
func (c *Client) GetPayment(ctx context.Context, user uint64, key string, stale bool) (*api.Payment, error) {
	var p api.Payment
	if _, err := c.do(ctx, http.MethodGet, userPath(user)+"/payments/"+url.PathEscape(key), readQuery(stale), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ListPayments reads one page of user's payments after the key after.
func (c *Client) ListPayments(ctx context.Context, user uint64, after string, limit int, stale bool) (*api.PaymentList, error) {
	q := readQuery(stale)
	if q == nil {
		q = url.Values{}
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var l api.PaymentList
	if _, err := c.do(ctx, http.MethodGet, userPath(user)+"/payments", q, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// ListAllPayments pages through every payment of user, reading at most
// maxPages pages of api.MaxPageSize.
func (c *Client) ListAllPayments(ctx context.Context, user uint64, stale bool, maxPages int) ([]api.Payment, error) {
	var all []api.Payment
	after := ""
	for page := 0; page < maxPages; page++ {
		l, err := c.ListPayments(ctx, user, after, api.MaxPageSize, stale)
		if err != nil {
			return nil, err
		}
		all = append(all, l.Payments...)
		if l.Next == "" || len(l.Payments) == 0 {
			return all, nil
		}
		after = l.Next
	}
	return nil, fmt.Errorf("list payments of user %d: more than %d pages", user, maxPages)
}

// Repay sends one repayment attempt. created is true for 201.
func (c *Client) Repay(ctx context.Context, user uint64, req api.RepayRequest) (r *api.Repayment, created bool, err error) {
	var out api.Repayment
	code, err := c.do(ctx, http.MethodPost, userPath(user)+"/repayments", nil, req, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, code == http.StatusCreated, nil
}

// ListBills reads every bill of user.
func (c *Client) ListBills(ctx context.Context, user uint64, stale bool) ([]api.Bill, error) {
	var l api.BillList
	if _, err := c.do(ctx, http.MethodGet, userPath(user)+"/bills", readQuery(stale), nil, &l); err != nil {
		return nil, err
	}
	return l.Bills, nil
}

// Status reads the node's view of its zone.
func (c *Client) Status(ctx context.Context) (*api.Status, error) {
	var s api.Status
	if _, err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Ready reports whether GET /readyz answers 200.
func (c *Client) Ready(ctx context.Context) bool {
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
	return err == nil
}

// Healthy reports whether GET /healthz answers 200.
func (c *Client) Healthy(ctx context.Context) bool {
	_, err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
	return err == nil
}

// Outcome is what one write attempt tells about its effect.
type Outcome int

const (
	// Applied: the server answered with a result (a new payment, a replay,
	// or a business refusal such as insufficient credit that is itself
	// recorded under the key).
	Applied Outcome = iota
	// NotApplied: the server said the attempt changed nothing.
	NotApplied
	// Unknown: the attempt may or may not have applied.
	Unknown
)

// Classify tells what a write attempt that returned err says about its effect.
func Classify(err error) Outcome {
	if err == nil {
		return Applied
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case api.CodeUnknownOutcome, api.CodeInternal:
			return Unknown
		case api.CodeInsufficientCredit, api.CodeOverpayment:
			return Applied
		case api.CodeAccountIsolated:
			// A failed-over zone's blacklisted account: the write was
			// refused before it reached any log, and retrying it before
			// reconciliation is refused again.
			return NotApplied
		default:
			return NotApplied
		}
	}
	// A request that could not even connect was never sent.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return NotApplied
	}
	return Unknown
}

// Retryable reports whether a write that returned err should be sent again
// with the same key: a retryable API code or a transport error.
func Retryable(err error) bool {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Code.Retryable() || ae.Code == api.CodeInternal
	}
	return errors.Is(err, ErrTransport) || errors.Is(err, context.DeadlineExceeded)
}

// Code is the API code of err, "transport" for a transport error, or "" for
// nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return string(ae.Code)
	}
	return "transport"
}
