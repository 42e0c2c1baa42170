// Package console is rzone's web console: a few pages, embedded in the
// binary and served by every node at /ui/, that draw the cluster from the
// node's public /v1 API and /metrics. The one endpoint of its own,
// GET /v1/ui/series, answers the last ten minutes of cluster-wide figures
// (payments/s, apply latency, follower lag per zone) sampled by the node
// once a second while a console is open.
//
// console imports only internal/api and internal/peer, never server.
package console

import (
	"embed"
	"io/fs"
	"net"
	"net/http"
	"sync"
)

//go:embed assets
var assets embed.FS

// Mux is where Register adds the console's routes: an *http.ServeMux, or
// a node's mux that puts each route behind its access check.
type Mux interface {
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
}

// Peers is how the sampler reaches the cluster's nodes: the node's own
// peer client (TLS with its node certificate when the cluster is secure).
type Peers interface {
	// URL is the address of path on the node at addr, with its scheme.
	URL(addr, path string) string
	Do(req *http.Request) (*http.Response, error)
}

// Register adds the console's routes to a node's mux: the pages under
// /ui/ and the sampled series at /v1/ui/series, sampled through peers.
func Register(mux Mux, peers Peers) {
	c := &console{peers: peers}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, r *http.Request) {
		c.touch(r)
		// Nothing is cached beyond the tab: every load asks again.
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /v1/ui/series", func(w http.ResponseWriter, r *http.Request) {
		s := c.touch(r)
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, s.series())
	})
}

// console holds one node's sampler, started by the first console request
// the node serves.
type console struct {
	peers   Peers
	mu      sync.Mutex
	sampler *sampler
}

// touch starts the sampler if none runs and marks it in use. The node's
// own API address is the local address the request came in on.
func (c *console) touch(r *http.Request) *sampler {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sampler == nil || c.sampler.stopped() {
		self := r.Host
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			self = a.String()
		}
		c.sampler = newSampler(self, c.peers, defaultWindow)
		go c.sampler.run()
	}
	c.sampler.use(r.Header.Get("Authorization"))
	return c.sampler
}
