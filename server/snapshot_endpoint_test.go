package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rzonedb/rzone/backup"
	"github.com/rzonedb/rzone/internal/api"
)

// TestSnapshotsOneAtATime: a node writes one snapshot at a time (each
// spools a whole group to disk); a second asked meanwhile is answered 503
// unavailable at once, and served once the first is done. Spools a
// stopped node left behind are removed when it starts again.
func TestSnapshotsOneAtATime(t *testing.T) {
	mc := setupZones(t, []string{"A"}, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	hold := func() {
		select {
		case entered <- struct{}{}:
			<-release
		default:
		}
	}
	backup.TestSaveHold.Store(&hold)
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	// Runs before the nodes stop (cleanups run last first): a held
	// snapshot would keep its node's HTTP server from shutting down.
	t.Cleanup(func() { free(); backup.TestSaveHold.Store(nil) })

	first := make(chan int, 1)
	go func() {
		status, _ := mc.call(mc.hc, 0, http.MethodGet, "/v1/snapshot/zone/A", mc.adminToken, "")
		first <- status
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second * slow):
		t.Fatal("the first snapshot never began")
	}
	if status, code := mc.call(mc.hc, 0, http.MethodGet, "/v1/snapshot/meta", mc.adminToken, ""); status != http.StatusServiceUnavailable || code != api.CodeUnavailable {
		t.Fatalf("a second snapshot while one is written: %d %s, want 503 %s", status, code, api.CodeUnavailable)
	}
	free()
	if status := <-first; status != http.StatusOK {
		t.Fatalf("the first snapshot: %d", status)
	}
	if status, code := mc.call(mc.hc, 0, http.MethodGet, "/v1/snapshot/meta", mc.adminToken, ""); status != http.StatusOK {
		t.Fatalf("a snapshot after the first ended: %d %s", status, code)
	}

	// A spool left by a node stopped mid-snapshot goes at the next start.
	mc.nodes[0].Shutdown(context.Background())
	left := filepath.Join(mc.cfgs[0].DataDir, "snapshot-123.part")
	if err := os.WriteFile(left, []byte("half a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	nd, err := Start(mc.cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	mc.nodes[0] = nd
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("the spool left by the stopped node is still there: %v", err)
	}
}
