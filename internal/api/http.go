package api

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The generic parts of the API's HTTP handlers: reading and checking a
// request, writing a reply. Each helper that can fail writes the error
// reply itself and reports ok false, or returns the *Error for the caller
// to write.

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ReadBody reads r's body, refusing one over MaxBodyBytes.
func ReadBody(r *http.Request) ([]byte, *Error) { return readAll(r.Body) }

// ReadJSON decodes r's body into v (Decode) and, if v has a Validate
// method, checks it. On failure it writes the error reply and returns
// false.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	err := Decode(r.Body, v)
	if val, ok := v.(interface{ Validate() error }); ok && err == nil {
		err = val.Validate()
	}
	if err != nil {
		WriteError(w, err.(*Error))
		return false
	}
	return true
}

// ReadRequest parses the path's {user} and decodes and validates the body
// into req; it returns the body too. On failure it writes the error reply
// and returns ok false.
func ReadRequest(w http.ResponseWriter, r *http.Request, req interface{ Validate() error }) (user uint64, body []byte, ok bool) {
	user, aerr := PathUser(r)
	if aerr == nil {
		body, aerr = ReadBody(r)
	}
	if aerr == nil {
		if err := DecodeBytes(body, req); err != nil {
			aerr = err.(*Error)
		} else if err := req.Validate(); err != nil {
			aerr = err.(*Error)
		}
	}
	if aerr != nil {
		WriteError(w, aerr)
		return 0, nil, false
	}
	return user, body, true
}

// PathUserKey parses the path's {user} and idempotency {key}; on failure
// it writes the error reply and returns ok false.
func PathUserKey(w http.ResponseWriter, r *http.Request) (user uint64, key string, ok bool) {
	user, aerr := PathUser(r)
	if aerr == nil {
		key = r.PathValue("key")
		if err := ValidateKey(key); err != nil {
			aerr = err.(*Error)
		}
	}
	if aerr != nil {
		WriteError(w, aerr)
		return 0, "", false
	}
	return user, key, true
}

// PathUser parses the path's {user}.
func PathUser(r *http.Request) (uint64, *Error) {
	u, err := ParseUser(r.PathValue("user"))
	if err != nil {
		return 0, err.(*Error)
	}
	return u, nil
}

// PathRunID parses the path's {id} as a run id, a positive integer; on
// failure it writes the error reply and returns ok false.
func PathRunID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		WriteError(w, Errorf(CodeInvalidArgument, "run id %q: want a positive integer", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// StaleParam parses ?stale= (default false).
func StaleParam(r *http.Request) (bool, *Error) {
	s := r.URL.Query().Get("stale")
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, Errorf(CodeInvalidArgument, "stale must be true or false, got %q", s)
	}
	return b, nil
}

// AllowedMethods lists the methods a route of sm other than the catch-all
// "/" takes on r's path: a catch-all matches every method, so it would
// otherwise hide the 405 ServeMux gives a known path with a wrong method.
func AllowedMethods(sm *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := sm.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// StatusWriter is a ResponseWriter that remembers the status code it
// wrote (Code, http.StatusOK until WriteHeader), for metrics.
type StatusWriter struct {
	http.ResponseWriter
	Code int
}

// WriteHeader records code and writes it.
func (w *StatusWriter) WriteHeader(code int) {
	w.Code = code
	w.ResponseWriter.WriteHeader(code)
}
