package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
)

// TestWrongMethodIs405: a known path asked with a method it does not take
// answers 405 with an Allow header and the usual error body; an unknown
// path still answers 404.
func TestWrongMethodIs405(t *testing.T) {
	n := &Node{cfg: Config{NodeID: "n1", Insecure: true}}
	n.metrics = newMetrics(n)
	sm := http.NewServeMux()
	n.routes(sm)
	h := n.instrument(sm)
	tests := []struct {
		method, path string
		status       int
		code         api.Code
		allow        string
	}{
		{http.MethodDelete, "/v1/accounts/7", 405, api.CodeMethodNotAllowed, "GET, HEAD, PUT"},
		{http.MethodGet, "/v1/zones/A/failover", 405, api.CodeMethodNotAllowed, "POST"},
		{http.MethodPost, "/v1/tokens/t1", 405, api.CodeMethodNotAllowed, "DELETE"},
		{http.MethodGet, "/v1/nothing/here", 404, api.CodeNotFound, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		var body api.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == nil {
			t.Errorf("%s %s: body %q is not an error: %v", tt.method, tt.path, rec.Body.String(), err)
			continue
		}
		if rec.Code != tt.status || body.Error.Code != tt.code || rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d %s Allow %q; want %d %s Allow %q", tt.method, tt.path,
				rec.Code, body.Error.Code, rec.Header().Get("Allow"), tt.status, tt.code, tt.allow)
		}
	}
}
