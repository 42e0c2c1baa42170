package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// SnapshotInfo describes a snapshot SaveSnapshot received.
type SnapshotInfo struct {
	// Index is the applied index the group's leader read the state at.
	Index uint64
	// StateDigest is the leader's state digest (hex SHA-256) at Index,
	// the digest GET /v1/internal/replicas?digest=1 reports.
	StateDigest string
	// Node is the node that served it, Bytes how many bytes were written.
	Node  string
	Bytes int64
}

// SaveSnapshot streams a backup of one Raft group ("meta" or "zone/NAME")
// to w, as the group's leader reads it at its applied index: a header
// (format version, cluster id, group, index, term, time, SHA-256 of the
// body) and the body. Needs an admin token. A failure before the first byte
// is retried on the next address; one after it is returned, and what was
// written to w is not a whole backup (snapfile.Verify refuses it).
func (c *Client) SaveSnapshot(ctx context.Context, group string, w io.Writer) (SnapshotInfo, error) {
	var lastErr error
	delay := c.backoff
	for attempt := 0; attempt <= c.maxRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return SnapshotInfo{}, lastErr
			case <-time.After(delay/2 + rand.N(delay/2+1)):
			}
			delay = min(2*delay, c.maxBackoff)
		}
		node := c.addrs[attempt%len(c.addrs)]
		info, started, err := c.snapshotOnce(ctx, node, group, w)
		if err == nil || started || !IsRetryable(err) || ctx.Err() != nil {
			return info, err
		}
		lastErr = err
	}
	return SnapshotInfo{}, lastErr
}

func (c *Client) snapshotOnce(ctx context.Context, node, group string, w io.Writer) (info SnapshotInfo, started bool, err error) {
	scheme := "http://"
	if c.tls != nil {
		scheme = "https://"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+node+"/v1/snapshot/"+group, nil)
	if err != nil {
		return info, false, fmt.Errorf("rzone client: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return info, false, transportError(node, err, false)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
			return info, false, &Error{Code: CodeInternal, Status: resp.StatusCode, Node: node,
				Message: fmt.Sprintf("unexpected reply %s: %.200s", resp.Status, data)}
		}
		return info, false, &Error{Code: eb.Error.Code, Message: eb.Error.Message, Status: resp.StatusCode, Node: node}
	}
	info.Index, _ = strconv.ParseUint(resp.Header.Get("X-Rzone-Snapshot-Index"), 10, 64)
	info.StateDigest = resp.Header.Get("X-Rzone-State-Digest")
	info.Node = resp.Header.Get("X-Rzone-Node")
	info.Bytes, err = io.Copy(w, resp.Body)
	if err != nil {
		return info, true, &Error{Code: CodeUnavailable, Node: node, Message: fmt.Sprintf("snapshot cut short after %d bytes: %v", info.Bytes, err)}
	}
	return info, true, nil
}
