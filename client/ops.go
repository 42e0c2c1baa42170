package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Ops lists the operations under way and the latest finished ones, oldest
// first.
func (c *Client) Ops(ctx context.Context) ([]Operation, error) {
	var out OperationList
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/ops", out: &out, admin: true}); err != nil {
		return nil, err
	}
	return out.Operations, nil
}

// Op reads one operation. With after > 0 (an operation's Index, or the
// index of a reply that named it) the node answers once its meta replica
// has applied that far, so a node that lags does not answer from before
// the operation.
func (c *Client) Op(ctx context.Context, id string, after uint64) (*Operation, error) {
	var out Operation
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/ops/" + url.PathEscape(id), query: afterQuery(after), out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

func afterQuery(after uint64) url.Values {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatUint(after, 10))
	}
	return q
}

// opPoll is how often WaitOp reads an operation.
const opPoll = 100 * time.Millisecond

// WaitOp follows op until it is done, wait has passed (wait <= 0: no
// limit but ctx's) or ctx ends, and returns its latest record. onChange, if
// not nil, is called with every record whose phase, progress, detail or
// error differs from the one before (the first one included). It returns
// an error only when it could not read the operation at all.
func (c *Client) WaitOp(ctx context.Context, op *Operation, wait time.Duration, onChange func(*Operation)) (*Operation, error) {
	cur := op
	if onChange != nil {
		onChange(cur)
	}
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	for !cur.Done && cur.ID != "" {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return cur, nil
		}
		select {
		case <-ctx.Done():
			return cur, nil
		case <-time.After(opPoll):
		}
		next, err := c.Op(ctx, cur.ID, cur.Index)
		if err != nil {
			if ctx.Err() != nil {
				return cur, nil
			}
			return cur, fmt.Errorf("follow operation %s: %w", cur.ID, err)
		}
		if onChange != nil && (next.Phase != cur.Phase || next.Progress != cur.Progress || next.Detail != cur.Detail || next.Error != cur.Error) {
			onChange(next)
		}
		cur = next
	}
	return cur, nil
}

// startOp sends an admin command that answers with an operation.
func (c *Client) startOp(ctx context.Context, path string, query url.Values, body any) (*Operation, error) {
	var op Operation
	query.Set("wait", "0s")
	if _, err := c.do(ctx, call{method: http.MethodPost, path: path, query: query, body: body, out: &op, write: true, admin: true}); err != nil {
		return nil, err
	}
	return &op, nil
}
