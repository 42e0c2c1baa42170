package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxMetricsBytes bounds a /metrics page the client reads.
const maxMetricsBytes = 16 << 20

// Metrics reads the node at addr's metrics page (GET /metrics, the
// Prometheus text format; a metrics, reader or admin token), not retried
// elsewhere.
func (c *Client) Metrics(ctx context.Context, addr string) (string, error) {
	scheme := "http://"
	if c.tls != nil {
		scheme = "https://"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+addr+"/metrics", nil)
	if err != nil {
		return "", fmt.Errorf("rzone client: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", transportError(addr, err, false)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil {
		return "", &Error{Code: CodeUnavailable, Node: addr, Message: fmt.Sprintf("metrics cut short: %v", err)}
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
			return "", &Error{Code: CodeInternal, Status: resp.StatusCode, Node: addr,
				Message: fmt.Sprintf("unexpected reply %s: %.200s", resp.Status, data)}
		}
		return "", &Error{Code: eb.Error.Code, Message: eb.Error.Message, Status: resp.StatusCode, Node: addr}
	}
	return string(data), nil
}
