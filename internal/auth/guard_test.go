package auth

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rzonedb/rzone/fsm"
)

// TestGuardCheck: an open guard and an open route let anything through;
// a node route refuses every token; the init route is open until the
// cluster is initialized and admin after; other routes take a token of a
// role that allows them, count refusals by reason, and refuse a source
// past the failure limit even with a valid token.
func TestGuardCheck(t *testing.T) {
	initialized := false
	roles := map[string]string{"Bearer admin": fsm.RoleAdmin, "Bearer app": fsm.RoleApp}
	failed := map[string]int{}
	g := &Guard{Initialized: func() bool { return initialized }, Fails: &Limiter{now: func() time.Time { return time.Unix(1000, 0) }},
		Role:   func(h string) (string, bool) { r, ok := roles[h]; return r, ok },
		Failed: func(reason string) { failed[reason]++ }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	check := func(src, header string, need Access) error {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = src + ":1234"
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if e := g.Check(r, need); e != nil {
			return e
		}
		return nil
	}
	for _, tt := range []struct {
		header string
		need   Access
		want   error
	}{
		{"", AccessOpen, nil},
		{"Bearer admin", AccessNode, ErrPermissionDenied},
		{"", AccessInit, nil},
		{"", AccessUser, ErrUnauthenticated},
		{"Bearer bogus", AccessUser, ErrUnauthenticated},
		{"Bearer app", AccessUser, nil},
		{"Bearer app", AccessAdmin, ErrPermissionDenied},
		{"Bearer admin", AccessAdmin, nil},
	} {
		if got := check("10.0.0.1", tt.header, tt.need); got != tt.want {
			t.Errorf("%q needing %d: %v, want %v", tt.header, tt.need, got, tt.want)
		}
	}
	if failed["unauthenticated"] != 2 || failed["permission_denied"] != 1 {
		t.Errorf("counted refusals %v", failed)
	}
	initialized = true
	if got := check("10.0.0.1", "", AccessInit); got != ErrUnauthenticated {
		t.Errorf("init after the cluster's: %v, want unauthenticated", got)
	}
	if got := check("10.0.0.1", "Bearer admin", AccessInit); got != nil {
		t.Errorf("init after the cluster's, admin: %v", got)
	}
	for i := 0; i <= MaxFailures; i++ {
		check("10.0.0.2", "", AccessUser)
	}
	if got := check("10.0.0.2", "Bearer admin", AccessAdmin); got != ErrUnauthenticated {
		t.Errorf("a source past the limit: %v, want unauthenticated", got)
	}
	g.Open = true
	if got := check("10.0.0.2", "", AccessNode); got != nil {
		t.Errorf("open guard: %v", got)
	}
}
