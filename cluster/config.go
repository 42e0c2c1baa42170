package cluster

import (
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
)

// APIConfig lists the meta group's config store as the API shows it.
func APIConfig(items []fsm.ConfigItem) api.ConfigList {
	out := api.ConfigList{Items: []api.ConfigItem{}}
	for _, it := range items {
		out.Items = append(out.Items, api.ConfigItem(it))
	}
	return out
}
