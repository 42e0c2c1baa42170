package server

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestBuildInfoMetric: every node's /metrics carries rzone_build_info = 1
// with the version, revision and Go version of its build.
func TestBuildInfoMetric(t *testing.T) {
	n := &Node{}
	n.metrics = newMetrics(n)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(n.metrics.Reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "rzone_build_info{") {
			if !strings.Contains(line, `go="`+runtime.Version()+`"`) || !strings.Contains(line, `revision="`) ||
				!strings.Contains(line, `version="`) || !strings.HasSuffix(line, "} 1") {
				t.Fatalf("build info line %q", line)
			}
			return
		}
	}
	t.Fatal("/metrics has no rzone_build_info")
}
