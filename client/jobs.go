package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/rzonedb/rzone/internal/api"
)

// StartRun starts a run of job ("statement", "reminder" or "autodebit") for
// cycle ("YYYYMM") and returns it; while a run of the same job and cycle is
// going on, that run is returned instead (created false). Safe to retry: a
// retried start finds the run the first one started. A start whose reply
// was lost (unknown outcome) is sent again and so reports the run it made
// as created false; had that run already ended, a second run of the cycle
// starts, which notifies or debits no one twice (every effect is once per
// job, cycle and user).
func (c *Client) StartRun(ctx context.Context, job, cycle string) (run *Run, created bool, err error) {
	var out Run
	status, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/jobs/" + url.PathEscape(job) + "/runs",
		body: api.RunRequest{Cycle: cycle}, out: &out, write: true, admin: true})
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// Runs lists the runs the cluster keeps, newest first.
func (c *Client) Runs(ctx context.Context) ([]Run, error) {
	var out RunList
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/runs", out: &out, admin: true}); err != nil {
		return nil, err
	}
	return out.Runs, nil
}

// GetRun reads a run's state and progress.
func (c *Client) GetRun(ctx context.Context, id uint64) (*Run, error) {
	var out Run
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/runs/" + strconv.FormatUint(id, 10), out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelRun stops a run; what was done stays done.
func (c *Client) CancelRun(ctx context.Context, id uint64) (*Run, error) {
	var out Run
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/runs/" + strconv.FormatUint(id, 10) + "/cancel",
		out: &out, write: true, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}
