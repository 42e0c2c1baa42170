package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// InitCluster creates a multi-zone cluster from the nodes that gossip has
// found, with zones in ring order (each zone's backup is the next). With
// expectNodes > 0 it waits (retrying) until gossip shows that many live
// nodes. It is idempotent and returns the route table.
func (c *Client) InitCluster(ctx context.Context, zones []string, expectNodes int) (*RouteTable, error) {
	var out RouteTable
	body := map[string]any{"zones": zones, "expect_nodes": expectNodes}
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/cluster/init", body: body, out: &out, write: true, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Routes reads the route table from any node.
func (c *Client) Routes(ctx context.Context) (*RouteTable, error) {
	var out RouteTable
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/routes", out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Zones reads every zone's status: voters, leader, async followers and
// their lag, lease, shards.
func (c *Client) Zones(ctx context.Context) (*ZoneList, error) {
	var out ZoneList
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/zones", out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Zone reads one zone's status.
func (c *Client) Zone(ctx context.Context, zone string) (*ZoneStatus, error) {
	var out ZoneStatus
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/zones/" + url.PathEscape(zone), out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// FailoverZone fails zone over to its backup zone (docs/DESIGN.md,
// Failover): it begins the failover operation and follows it (WaitOp) up
// to wait for the zone's shards to be routed to the failover store; the
// reply is the zone's status then, read from a state that includes the
// operation's latest step (its phase says how far it got).
//
// A zone that still holds a valid ownership lease looks healthy: the node
// refuses its failover with ErrLeaseValid unless opts include Forced().
func (c *Client) FailoverZone(ctx context.Context, zone string, wait time.Duration, opts ...FailoverOption) (*ZoneStatus, error) {
	var o failoverOptions
	for _, opt := range opts {
		opt(&o)
	}
	q := url.Values{}
	if o.force {
		q.Set("force", "true")
	}
	return c.zoneStep(ctx, zone, "failover", wait, q, o.progress)
}

// FailoverOption is an option of FailoverZone.
type FailoverOption func(*failoverOptions)

type failoverOptions struct {
	force    bool
	progress func(*Operation)
}

// Forced lets FailoverZone fail over a zone that still holds a valid
// lease (a live zone, or one lost too recently for its lease to have
// ended).
func Forced() FailoverOption { return func(o *failoverOptions) { o.force = true } }

// OnProgress makes FailoverZone or RecoverZone call fn with each new step
// of the operation it follows.
func OnProgress(fn func(*Operation)) FailoverOption {
	return func(o *failoverOptions) { o.progress = fn }
}

// RecoverZone reconciles a failed-over zone once its own nodes are back:
// the failover store's payments are merged into it and its shards routed
// home. It follows the recover operation up to wait for the zone to be
// normal again (opts: OnProgress).
func (c *Client) RecoverZone(ctx context.Context, zone string, wait time.Duration, opts ...FailoverOption) (*ZoneStatus, error) {
	var o failoverOptions
	for _, opt := range opts {
		opt(&o)
	}
	return c.zoneStep(ctx, zone, "recover", wait, url.Values{}, o.progress)
}

func (c *Client) zoneStep(ctx context.Context, zone, step string, wait time.Duration, query url.Values, progress func(*Operation)) (*ZoneStatus, error) {
	op, err := c.startOp(ctx, "/v1/zones/"+url.PathEscape(zone)+"/"+step, query, nil)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		op, err = c.WaitOp(ctx, op, wait, progress)
	} else if progress != nil {
		progress(op) // not followed: its first step only
	}
	if err != nil {
		return nil, err
	}
	c.forgetRoutes()
	var out ZoneStatus
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/zones/" + url.PathEscape(zone), query: afterQuery(op.Index), out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Members reads the gossip membership as one node sees it.
func (c *Client) Members(ctx context.Context) (*MemberList, error) {
	var out MemberList
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/members", out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// MoveShard moves a shard to another zone: it begins the shard_move
// operation, follows it until it is done (WaitOp; opts: MoveProgress) and
// returns the route table from a state that includes the move.
func (c *Client) MoveShard(ctx context.Context, shard int, zone string, opts ...MoveOption) (*RouteTable, error) {
	var o moveOptions
	for _, opt := range opts {
		opt(&o)
	}
	op, err := c.startOp(ctx, "/v1/shards/"+strconv.Itoa(shard)+"/move", url.Values{}, map[string]string{"zone": zone})
	if err != nil {
		return nil, err
	}
	if op, err = c.WaitOp(ctx, op, 0, o.progress); err != nil {
		return nil, err
	}
	if !op.Done {
		return nil, fmt.Errorf("rzone client: shard move %s is still %s (%d%%) after %v: %w", op.ID, op.Phase, op.Progress, ctx.Err(), ErrUnknownOutcome)
	}
	c.forgetRoutes()
	var out RouteTable
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/routes", query: afterQuery(op.Index), out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// MoveOption is an option of MoveShard.
type MoveOption func(*moveOptions)

type moveOptions struct{ progress func(*Operation) }

// MoveProgress makes MoveShard call fn with each new step of the move.
func MoveProgress(fn func(*Operation)) MoveOption {
	return func(o *moveOptions) { o.progress = fn }
}

// SetConfig writes a config key; expectedVersion > 0 makes it a
// compare-and-set that fails with ErrVersionConflict on another version.
//
// A config write carries no idempotency key, so it is sent again only when
// it was not applied. When its outcome is unknown (the reply was lost),
// SetConfig reads the key back: if it holds value (at expectedVersion+1,
// for a compare-and-set) the write is taken as done and that item is
// returned; otherwise the error wraps ErrUnknownOutcome and the caller
// decides, with GetConfig, whether to write again.
func (c *Client) SetConfig(ctx context.Context, key, value string, expectedVersion uint64) (*ConfigItem, error) {
	var out ConfigItem
	body := api.SetConfigRequest{Value: value, ExpectedVersion: expectedVersion}
	_, err := c.do(ctx, call{method: http.MethodPut, path: "/v1/config/" + key, body: body, out: &out, write: true, admin: true, noKey: true})
	if err == nil {
		return &out, nil
	}
	if !errors.Is(err, ErrUnknownOutcome) {
		return nil, err
	}
	if it := c.readBackConfig(ctx, key, value, expectedVersion); it != nil {
		return it, nil
	}
	return nil, err
}

// readBackConfig reads key a few times (a node's replica may lag the meta
// leader by a heartbeat) and returns it once it shows value, at
// expectedVersion+1 when expectedVersion > 0; nil if it does not.
func (c *Client) readBackConfig(ctx context.Context, key, value string, expectedVersion uint64) *ConfigItem {
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(c.backoff):
			}
		}
		it, err := c.GetConfig(ctx, key)
		if err != nil || it.Value != value {
			continue
		}
		if expectedVersion == 0 || it.Version == expectedVersion+1 {
			return it
		}
		return nil // it moved past the version this write could have made
	}
	return nil
}

// GetConfig reads a config key.
func (c *Client) GetConfig(ctx context.Context, key string) (*ConfigItem, error) {
	var out ConfigItem
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/config/" + key, out: &out, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListConfig reads every config key.
func (c *Client) ListConfig(ctx context.Context) ([]ConfigItem, error) {
	var out struct {
		Items []ConfigItem `json:"items"`
	}
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/config", out: &out, admin: true}); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// RemoveNode removes node id from the cluster for good, whether it runs or
// not: it leaves its zone's group, the meta group and every async-follower
// role, and a spare node takes its meta vote. The id can never join again;
// a replacement node joins under a new id. Removing a removed node again
// succeeds.
func (c *Client) RemoveNode(ctx context.Context, id string) (*NodeRemoval, error) {
	var out NodeRemoval
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/nodes/" + url.PathEscape(id) + "/remove", out: &out, write: true, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DrainNode moves the leadership of every group node id leads to other
// nodes, and from then on the node leads no group and takes no scheduler
// task, until UndrainNode. The reply lists what moved. Draining a drained
// node again moves whatever it leads now.
func (c *Client) DrainNode(ctx context.Context, id string) (*NodeDrain, error) {
	var out NodeDrain
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/nodes/" + url.PathEscape(id) + "/drain", out: &out, write: true, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// UndrainNode lets a drained node lead groups and take tasks again.
func (c *Client) UndrainNode(ctx context.Context, id string) (*NodeDrain, error) {
	var out NodeDrain
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/nodes/" + url.PathEscape(id) + "/undrain", out: &out, write: true, admin: true}); err != nil {
		return nil, err
	}
	return &out, nil
}
