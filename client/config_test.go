package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// configServer is a one-key config store behind the API's config
// endpoints. While lose > 0 it applies a write and then closes the
// connection without replying, as a reply lost on its way back would.
type configServer struct {
	mu     sync.Mutex
	item   api.ConfigItem
	writes int // writes applied
	lose   int // replies still to lose
	// overtake makes another writer change the key just before each read.
	overtake bool
}

func (s *configServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method == http.MethodGet {
		if s.overtake {
			s.item.Value, s.item.Version = "other", s.item.Version+1
		}
		json.NewEncoder(w).Encode(s.item)
		return
	}
	var req api.SetConfigRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.ExpectedVersion != 0 && req.ExpectedVersion != s.item.Version {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Errorf(api.CodeVersionConflict, "at version %d, not %d", s.item.Version, req.ExpectedVersion)})
		return
	}
	s.item.Value = req.Value
	s.item.Version++
	s.writes++
	if s.lose > 0 {
		s.lose--
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	json.NewEncoder(w).Encode(s.item)
}

// TestSetConfigWithLostReply: a config write whose reply is lost is not
// sent again blindly. A plain set is applied once and a compare-and-set
// does not come back version_conflict from its own retry; both are settled
// by reading the key back. A write the read-back cannot confirm is returned
// as unknown outcome.
func TestSetConfigWithLostReply(t *testing.T) {
	setup := func(t *testing.T, item api.ConfigItem) (*configServer, *Client) {
		t.Helper()
		srv := &configServer{item: item, lose: 1}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		c, err := New([]string{strings.TrimPrefix(hs.URL, "http://")}, WithBackoff(time.Millisecond, 5*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return srv, c
	}
	ctx := context.Background()
	writes := func(srv *configServer) int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.writes
	}

	t.Run("plain set applies once", func(t *testing.T) {
		srv, c := setup(t, api.ConfigItem{Key: "k"})
		it, err := c.SetConfig(ctx, "k", "a", 0)
		if err != nil || it.Value != "a" || it.Version != 1 || writes(srv) != 1 {
			t.Fatalf("plain set with a lost reply: %+v, %v; applied %d times, want once", it, err, writes(srv))
		}
	})
	t.Run("compare-and-set is not its own conflict", func(t *testing.T) {
		srv, c := setup(t, api.ConfigItem{Key: "k", Value: "a", Version: 1})
		it, err := c.SetConfig(ctx, "k", "b", 1)
		if errors.Is(err, ErrVersionConflict) {
			t.Fatalf("compare-and-set with a lost reply came back version_conflict from its own retry: %v", err)
		}
		if err != nil || it.Value != "b" || it.Version != 2 || writes(srv) != 1 {
			t.Fatalf("compare-and-set with a lost reply: %+v, %v (writes %d)", it, err, writes(srv))
		}
	})
	t.Run("overtaken write is unknown", func(t *testing.T) {
		// Another writer gets in after the lost reply: the read-back
		// cannot tell, so the caller hears unknown outcome.
		srv, c := setup(t, api.ConfigItem{Key: "k", Value: "a", Version: 1})
		srv.mu.Lock()
		srv.overtake = true
		srv.mu.Unlock()
		_, err := c.SetConfig(ctx, "k", "c", 1)
		if !errors.Is(err, ErrUnknownOutcome) || writes(srv) != 1 {
			t.Fatalf("compare-and-set overtaken after a lost reply: %v (writes %d), want unknown outcome after one write", err, writes(srv))
		}
	})
}
