package cluster

import (
	"testing"

	"github.com/rzonedb/rzone/fsm"
)

// TestAPIListsAreNeverNull: the API's config and operation lists are
// empty lists, not null, when the meta group holds none, and keep the
// meta state's order and fields.
func TestAPIListsAreNeverNull(t *testing.T) {
	if c := APIConfig(nil); c.Items == nil || len(c.Items) != 0 {
		t.Fatalf("empty config: %#v", c.Items)
	}
	if o := APIOps(nil); o.Operations == nil || len(o.Operations) != 0 {
		t.Fatalf("no operations: %#v", o.Operations)
	}
	c := APIConfig([]fsm.ConfigItem{{Key: "a", Value: "1", Version: 3}, {Key: "b", Value: "2", Version: 1}})
	if len(c.Items) != 2 || c.Items[0].Key != "a" || c.Items[0].Version != 3 || c.Items[1].Value != "2" {
		t.Fatalf("config %+v", c.Items)
	}
	o := APIOps([]fsm.Op{{ID: "x", Kind: fsm.OpClusterInit}, {ID: "y"}})
	if len(o.Operations) != 2 || o.Operations[0].ID != "x" || o.Operations[0].Kind != fsm.OpClusterInit || o.Operations[1].ID != "y" {
		t.Fatalf("operations %+v", o.Operations)
	}
}
