package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// The outcome of a call that got no answer. zone's ErrNotApplied and
// ErrUnknownOutcome are these very values, so that errors.Is matches a
// write's outcome wherever the call was made.
var (
	// ErrNotApplied: the call provably never reached the other node (the
	// connection could not be made), so nothing it asked for was done.
	ErrNotApplied = errors.New("write not applied")
	// ErrUnknownOutcome: the call may have reached the other node (it was
	// sent, and its reply was lost, cut short or unreadable).
	ErrUnknownOutcome = errors.New("write outcome unknown")
)

// HeaderHops counts how often a request was forwarded from node to node.
const HeaderHops = "X-Rzone-Forwarded"

// DefaultCallTimeout bounds a JSON call unless Timeout says otherwise.
const DefaultCallTimeout = 10 * time.Second

// CallOption adjusts one JSON call.
type CallOption func(*call)

type call struct {
	timeout time.Duration
	hops    int
	limit   int64
}

// Timeout bounds the call by d instead of DefaultCallTimeout; 0 leaves
// only the context's deadline.
func Timeout(d time.Duration) CallOption { return func(c *call) { c.timeout = d } }

// Hops sends the request as forwarded n times (HeaderHops).
func Hops(n int) CallOption { return func(c *call) { c.hops = n } }

// Limit caps the reply's size (default 16 MiB).
func Limit(n int64) CallOption { return func(c *call) { c.limit = n } }

// PostJSON posts in, as JSON, to path on the node whose API listens at
// addr, and decodes a 2xx reply into out (nil: the reply is not read). An
// error reply is returned as its *api.Error; a call with no answer wraps
// ErrNotApplied when it was never sent, else ErrUnknownOutcome.
func (c *Client) PostJSON(ctx context.Context, addr, path string, in, out any, opts ...CallOption) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("peer: encode %s: %w", path, err)
	}
	return c.callJSON(ctx, http.MethodPost, addr, path, body, out, opts)
}

// GetJSON GETs path on the node at addr into out (up to 256 MiB unless
// Limit says otherwise). A read changes nothing, so a failure with no
// answer, or an error status without an error body, is an
// api.CodeUnavailable error.
func (c *Client) GetJSON(ctx context.Context, addr, path string, out any, opts ...CallOption) error {
	return c.callJSON(ctx, http.MethodGet, addr, path, nil, out, append([]CallOption{Limit(256 << 20)}, opts...))
}

func (c *Client) callJSON(ctx context.Context, method, addr, path string, body []byte, out any, opts []CallOption) error {
	o := call{timeout: DefaultCallTimeout, limit: 16 << 20}
	for _, f := range opts {
		f(&o)
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.NewRequest(ctx, method, addr, path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.hops > 0 {
		req.Header.Set(HeaderHops, strconv.Itoa(o.hops))
	}
	read := method == http.MethodGet
	resp, err := c.Do(req)
	if err != nil {
		if read {
			// A read changes nothing: it failed, and may be retried.
			return api.Errorf(api.CodeUnavailable, "%v", err)
		}
		if NotSent(err) {
			return errors.Join(ErrNotApplied, fmt.Errorf("%s%s: %w", addr, path, err))
		}
		return errors.Join(ErrUnknownOutcome, fmt.Errorf("%s%s: %w", addr, path, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, o.limit))
	if err != nil {
		if read {
			return api.Errorf(api.CodeUnavailable, "%s%s: reply cut short: %v", addr, path, err)
		}
		return errors.Join(ErrUnknownOutcome, fmt.Errorf("%s%s: reply cut short: %w", addr, path, err))
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			return eb.Error
		}
		if read {
			return api.Errorf(api.CodeUnavailable, "%s%s: %s", addr, path, resp.Status)
		}
		return fmt.Errorf("%s%s: %s", addr, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		if read {
			return fmt.Errorf("%s%s: decode reply: %w", addr, path, err)
		}
		return errors.Join(ErrUnknownOutcome, fmt.Errorf("%s%s: decode reply: %w", addr, path, err))
	}
	return nil
}

// NotSent reports whether a failed request provably never reached its
// receiver: the connection could not be made.
func NotSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
