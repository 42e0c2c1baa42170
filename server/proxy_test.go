package server

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
)

// TestProxyCutReplyIsAnError forwards a write and a read to a leader whose
// reply is cut short after its status line: the client must get
// unknown_outcome for the write and unavailable for the read, never a 200
// with a broken body; a whole reply is passed on as it came.
func TestProxyCutReplyIsAnError(t *testing.T) {
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"key\":")
		buf.Flush()
	}))
	defer cut.Close()
	whole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderNode, "a1")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"key":"k1"}`))
	}))
	defer whole.Close()

	n := &Node{cfg: Config{NodeID: "n1", ApplyTimeout: 2 * time.Second, LeaderWait: time.Second}, peer: peer.NewClient(nil)}
	n.metrics = newMetrics(n)
	n.cluster = n.newMember()
	forward := func(srv *httptest.Server, write bool) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/accounts/1/payments", strings.NewReader(`{}`))
		if !n.proxy(rec, req, []byte(`{}`), strings.TrimPrefix(srv.URL, "http://"), 1, write, make(chan struct{})) {
			t.Fatal("proxy gave up without a leader change")
		}
		return rec
	}
	code := func(rec *httptest.ResponseRecorder) api.Code {
		var e struct{ Error api.Error }
		if err := json.NewDecoder(bufio.NewReader(rec.Body)).Decode(&e); err != nil {
			t.Fatalf("reply %d is not an error body: %v", rec.Code, err)
		}
		return e.Error.Code
	}
	if rec := forward(cut, true); rec.Code != http.StatusServiceUnavailable || code(rec) != api.CodeUnknownOutcome {
		t.Errorf("cut reply to a write: %d", rec.Code)
	}
	if rec := forward(cut, false); rec.Code != http.StatusServiceUnavailable || code(rec) != api.CodeUnavailable {
		t.Errorf("cut reply to a read: %d", rec.Code)
	}
	if rec := forward(whole, true); rec.Code != http.StatusCreated || rec.Body.String() != `{"key":"k1"}` || rec.Header().Get(HeaderNode) != "a1" {
		t.Errorf("whole reply: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
}
