package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// serve runs h on a mux route pattern for method and target with body,
// and returns the reply.
func serve(pattern, method, target, body string, h http.HandlerFunc) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, h)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(body)))
	return w
}

func errCode(t *testing.T, w *httptest.ResponseRecorder) Code {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error == nil {
		t.Fatalf("reply %d %q is no error body", w.Code, w.Body.String())
	}
	if w.Code != b.Error.Code.HTTPStatus() {
		t.Fatalf("status %d for code %s", w.Code, b.Error.Code)
	}
	return b.Error.Code
}

// TestReadJSON: a valid body decodes and passes; a malformed one, one with
// unknown fields and one its Validate refuses are answered 400, and one
// over MaxBodyBytes 413.
func TestReadJSON(t *testing.T) {
	for _, tt := range []struct {
		body string
		want Code
	}{
		{`{"cycle":"202611"}`, ""},
		{`{"cycle":`, CodeInvalidArgument},
		{`{"cycle":"202611","x":1}`, CodeInvalidArgument},
		{`{"cycle":"2026"}`, CodeInvalidArgument},
		{`{"cycle":"` + strings.Repeat("1", MaxBodyBytes) + `"}`, CodePayloadTooLarge},
	} {
		var req RunRequest
		ok := false
		w := serve("POST /r", "POST", "/r", tt.body, func(w http.ResponseWriter, r *http.Request) { ok = ReadJSON(w, r, &req) })
		if tt.want == "" {
			if !ok || req.Cycle != "202611" || w.Body.Len() != 0 {
				t.Errorf("%.40s: ok %v, cycle %q, reply %q", tt.body, ok, req.Cycle, w.Body.String())
			}
			continue
		}
		if ok {
			t.Errorf("%.40s: accepted", tt.body)
		} else if got := errCode(t, w); got != tt.want {
			t.Errorf("%.40s: %s, want %s", tt.body, got, tt.want)
		}
	}
}

// TestReadRequest: the path's user and a valid body come back with the
// body; a bad user or an invalid body is answered 400.
func TestReadRequest(t *testing.T) {
	for _, tt := range []struct {
		target, body string
		ok           bool
	}{
		{"/a/42", `{"credit_limit":100}`, true},
		{"/a/x", `{"credit_limit":100}`, false},
		{"/a/42", `{"credit_limit":-1}`, false},
		{"/a/42", `{}x`, false},
	} {
		var req PutAccountRequest
		var user uint64
		var body []byte
		ok := false
		w := serve("PUT /a/{user}", "PUT", tt.target, tt.body, func(w http.ResponseWriter, r *http.Request) {
			user, body, ok = ReadRequest(w, r, &req)
		})
		if ok != tt.ok {
			t.Errorf("%s %s: ok %v", tt.target, tt.body, ok)
		}
		if ok && (user != 42 || string(body) != tt.body) {
			t.Errorf("%s %s: user %d, body %q", tt.target, tt.body, user, body)
		}
		if !ok && errCode(t, w) != CodeInvalidArgument {
			t.Errorf("%s %s: want invalid_argument", tt.target, tt.body)
		}
	}
}

// TestPathParams: PathUserKey, PathRunID and StaleParam take what is
// valid and answer 400 to the rest.
func TestPathParams(t *testing.T) {
	for target, ok := range map[string]bool{"/p/7/k-1": true, "/p/x/k": false, "/p/7/" + strings.Repeat("k", MaxKeyLen+1): false} {
		got := false
		serve("GET /p/{user}/{key}", "GET", target, "", func(w http.ResponseWriter, r *http.Request) { _, _, got = PathUserKey(w, r) })
		if got != ok {
			t.Errorf("PathUserKey %s: %v, want %v", target, got, ok)
		}
	}
	for target, want := range map[string]uint64{"/runs/9": 9, "/runs/0": 0, "/runs/-1": 0, "/runs/x": 0} {
		var id uint64
		w := serve("GET /runs/{id}", "GET", target, "", func(w http.ResponseWriter, r *http.Request) { id, _ = PathRunID(w, r) })
		if id != want || (want == 0 && errCode(t, w) != CodeInvalidArgument) {
			t.Errorf("PathRunID %s: %d, want %d", target, id, want)
		}
	}
	for q, want := range map[string]bool{"": false, "?stale=true": true, "?stale=0": false, "?stale=maybe": false} {
		got, err := StaleParam(httptest.NewRequest("GET", "/s"+q, nil))
		if got != want || (err != nil) != (q == "?stale=maybe") {
			t.Errorf("StaleParam %q: %v, %v", q, got, err)
		}
	}
}

// TestAllowedMethods: a path's methods are listed without the catch-all's;
// an unknown path has none. StatusWriter records the status written.
func TestAllowedMethods(t *testing.T) {
	sm := http.NewServeMux()
	nop := func(http.ResponseWriter, *http.Request) {}
	sm.HandleFunc("GET /x/{id}", nop)
	sm.HandleFunc("DELETE /x/{id}", nop)
	sm.HandleFunc("/", nop)
	if got := AllowedMethods(sm, httptest.NewRequest("POST", "/x/1", nil)); !slices.Equal(got, []string{"GET", "HEAD", "DELETE"}) {
		t.Errorf("allowed %v", got)
	}
	if got := AllowedMethods(sm, httptest.NewRequest("GET", "/y", nil)); len(got) != 0 {
		t.Errorf("unknown path: allowed %v", got)
	}
	sw := &StatusWriter{ResponseWriter: httptest.NewRecorder(), Code: http.StatusOK}
	WriteJSON(sw, http.StatusCreated, map[string]int{"a": 1})
	if sw.Code != http.StatusCreated || sw.Header().Get("Content-Type") != "application/json" {
		t.Errorf("status %d, content type %q", sw.Code, sw.Header().Get("Content-Type"))
	}
}

// TestValidateConfigKeyAndJoin: config keys of 1 to 128 allowed bytes
// pass; a join request needs every field.
func TestValidateConfigKeyAndJoin(t *testing.T) {
	for k, ok := range map[string]bool{"sched/window": true, "a.b_c-d": true, "": false, "a b": false, "é": false,
		strings.Repeat("k", 128): true, strings.Repeat("k", 129): false} {
		if err := ValidateConfigKey(k); (err == nil) != ok {
			t.Errorf("ValidateConfigKey(%.20q): %v", k, err)
		}
	}
	full := JoinRequest{NodeID: "n1", RaftAddr: "h:1", HTTPAddr: "h:2"}
	if err := full.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, j := range []JoinRequest{{RaftAddr: "h:1", HTTPAddr: "h:2"}, {NodeID: "n1", HTTPAddr: "h:2"}, {NodeID: "n1", RaftAddr: "h:1"}} {
		if err := j.Validate(); err == nil {
			t.Errorf("%+v passes", j)
		}
	}
}
