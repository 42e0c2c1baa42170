package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/peer"
	"github.com/rzonedb/rzone/internal/testnet"
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
		if !n.proxy(rec, req, []byte(`{}`), strings.TrimPrefix(srv.URL, "http://"), 1, write, make(chan struct{}), false) {
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

// TestProxyInDoubtWrite: a write relayed after an earlier relay of it was
// abandoned (it may have been applied by the old leader) takes from this
// relay only what settles its key, a success or the key's own answer (a
// decline); a refusal that says only "not this time" (unavailable, a lease
// expired) or a connection that was never made is an unknown outcome, not
// "not applied". Without the doubt, those pass as they came.
func TestProxyInDoubtWrite(t *testing.T) {
	answer := func(status int, body string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		}))
		t.Cleanup(s.Close)
		return s
	}
	errBody := func(c api.Code) string { return `{"error":{"code":"` + string(c) + `","message":"m"}}` }
	closedAddr := testnet.Addrs(t, 1)[0] // nothing listens there

	n := &Node{cfg: Config{NodeID: "n1", ApplyTimeout: 2 * time.Second, LeaderWait: time.Second}, peer: peer.NewClient(nil)}
	n.metrics = newMetrics(n)
	n.cluster = n.newMember()
	for _, tc := range []struct {
		name    string
		addr    string
		doubt   api.Code // the answer's code when in doubt ("" a success)
		noDoubt api.Code
	}{
		{"unavailable", strings.TrimPrefix(answer(503, errBody(api.CodeUnavailable)).URL, "http://"), api.CodeUnknownOutcome, api.CodeUnavailable},
		{"lease expired", strings.TrimPrefix(answer(503, errBody(api.CodeLeaseExpired)).URL, "http://"), api.CodeUnknownOutcome, api.CodeLeaseExpired},
		{"not found", strings.TrimPrefix(answer(404, errBody(api.CodeNotFound)).URL, "http://"), api.CodeUnknownOutcome, api.CodeNotFound},
		{"nothing listens", closedAddr, api.CodeUnknownOutcome, api.CodeUnavailable},
		{"a proxy's page", strings.TrimPrefix(answer(502, `<html>bad gateway</html>`).URL, "http://"), api.CodeUnknownOutcome, ""},
		{"declined", strings.TrimPrefix(answer(422, errBody(api.CodeInsufficientCredit)).URL, "http://"), api.CodeInsufficientCredit, api.CodeInsufficientCredit},
		{"overpaid", strings.TrimPrefix(answer(422, errBody(api.CodeOverpayment)).URL, "http://"), api.CodeOverpayment, api.CodeOverpayment},
		{"key reused", strings.TrimPrefix(answer(409, errBody(api.CodeIdempotencyConflict)).URL, "http://"), api.CodeIdempotencyConflict, api.CodeIdempotencyConflict},
		{"accepted", strings.TrimPrefix(answer(201, `{"key":"k1"}`).URL, "http://"), "", ""},
	} {
		for _, inDoubt := range []bool{true, false} {
			for _, write := range []bool{true, false} {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/v1/accounts/1/payments", strings.NewReader(`{}`))
				if !n.proxy(rec, req, []byte(`{}`), tc.addr, 1, write, make(chan struct{}), inDoubt) {
					t.Fatal("proxy gave up without a leader change")
				}
				want := tc.noDoubt
				if inDoubt && write {
					want = tc.doubt // a read changes nothing: no doubt to carry
				}
				if !write && tc.name == "nothing listens" {
					want = api.CodeUnavailable
				}
				var e api.ErrorBody
				json.Unmarshal(rec.Body.Bytes(), &e)
				switch {
				case want == "" && rec.Code >= 300 && tc.name != "a proxy's page":
					t.Errorf("%s (in doubt %v, write %v): %d %s, want the success as it came", tc.name, inDoubt, write, rec.Code, rec.Body)
				case want == "" && tc.name == "a proxy's page" && rec.Code != http.StatusBadGateway:
					t.Errorf("%s (in doubt %v, write %v): %d %s, want the page as it came", tc.name, inDoubt, write, rec.Code, rec.Body)
				case want != "" && (e.Error == nil || e.Error.Code != want || rec.Code != want.HTTPStatus()):
					t.Errorf("%s (in doubt %v, write %v): %d %s, want %s", tc.name, inDoubt, write, rec.Code, rec.Body, want)
				}
			}
		}
	}
}

// TestBatchBodyCutIsNotTooLarge: a batch whose body cannot be read whole
// (cut short, timed out) is refused unavailable (not applied; retried),
// not payload_too_large, which a client takes as the final answer about
// its keys; a body over the limit is payload_too_large.
func TestBatchBodyCutIsNotTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name string
		body io.Reader
		want api.Code
	}{
		{"cut", io.MultiReader(strings.NewReader(`{"payments":[`), iotest.ErrReader(errors.New("connection reset"))), api.CodeUnavailable},
		{"too large", strings.NewReader(`{"payments":[` + strings.Repeat(" ", api.MaxBatchBodyBytes) + `]}`), api.CodePayloadTooLarge},
	} {
		rec := httptest.NewRecorder()
		serveBatch[api.BatchPayment](nil, rec, httptest.NewRequest(http.MethodPost, "/v1/payments/batch", tc.body), cluster.PayBatch)
		var e api.ErrorBody
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == nil || e.Error.Code != tc.want {
			t.Errorf("%s body: %d %s, want %s", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
}
