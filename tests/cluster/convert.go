package cluster

import (
	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
)

// APIRoutes converts the client's route table to the server's wire type,
// for the helpers that read routes straight from a node (Node.Routes) and
// take the wire type. The two have the same fields, which the client's
// TestWireTypesMatch holds them to.
func APIRoutes(rt *client.RouteTable) *api.RouteTable {
	if rt == nil {
		return nil
	}
	out := &api.RouteTable{Epoch: rt.Epoch, AdminToken: rt.AdminToken, Operation: (*api.Operation)(rt.Operation)}
	for _, s := range rt.Shards {
		out.Shards = append(out.Shards, api.ShardRoute(s))
	}
	for _, z := range rt.Zones {
		out.Zones = append(out.Zones, api.ZoneRoute(z))
	}
	return out
}
