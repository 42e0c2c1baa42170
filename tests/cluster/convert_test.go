package cluster

import (
	"reflect"
	"testing"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/api"
)

func TestAPIRoutes(t *testing.T) {
	rt := &client.RouteTable{Epoch: 3, AdminToken: "tok",
		Shards:    []client.ShardRoute{{Shard: 0, Zone: "A", Epoch: 2, Target: "B"}},
		Zones:     []client.ZoneRoute{{Zone: "A", Backup: "B", Leader: "a1", LeaderHTTP: "127.0.0.1:1", Nodes: []string{"127.0.0.1:1"}}},
		Operation: &client.Operation{ID: "op1", Kind: "cluster_init", Done: true, Index: 9}}
	want := &api.RouteTable{Epoch: 3, AdminToken: "tok",
		Shards:    []api.ShardRoute{{Shard: 0, Zone: "A", Epoch: 2, Target: "B"}},
		Zones:     []api.ZoneRoute{{Zone: "A", Backup: "B", Leader: "a1", LeaderHTTP: "127.0.0.1:1", Nodes: []string{"127.0.0.1:1"}}},
		Operation: &api.Operation{ID: "op1", Kind: "cluster_init", Done: true, Index: 9}}
	if got := APIRoutes(rt); !reflect.DeepEqual(got, want) {
		t.Fatalf("APIRoutes: %+v, want %+v", got, want)
	}
	if APIRoutes(nil) != nil {
		t.Fatal("APIRoutes(nil) is not nil")
	}
}
