package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
)

// TestRaftLogStoreOfNewAndOldFolders: --raft-log-store picks the log store
// of a new data folder (n1 bolt, the others the default, wal); a folder
// keeps its kind when the node restarts asking for the other, with its
// log. An unknown kind is refused.
func TestRaftLogStoreOfNewAndOldFolders(t *testing.T) {
	c := fastConfig("n1", t.TempDir(), "127.0.0.1:1", "127.0.0.1:2", nil)
	c.RaftLogStore = "rocksdb"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "raft log store") {
		t.Fatalf("validate an unknown log store: %v", err)
	}

	tc := setupWith(t, 3, func(c *Config) {
		if c.NodeID == "n1" {
			c.RaftLogStore = "bolt"
		}
	})
	has := func(i int, name string) bool {
		_, err := os.Stat(filepath.Join(tc.cfgs[i].DataDir, name))
		return err == nil
	}
	if !has(0, "raft.db") || has(0, "wal") {
		t.Fatal("n1 (bolt) has no raft.db, or has wal/")
	}
	for i := 1; i < 3; i++ {
		if has(i, "raft.db") || !has(i, "wal/wal-meta.db") {
			t.Fatalf("n%d (default) has raft.db, or no wal/", i+1)
		}
	}
	ctx := context.Background()
	if _, err := tc.client.PutAccount(ctx, 1, 1_000_000); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.client.Pay(ctx, 1, client.PayRequest{Key: "before", Amount: 5, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
	// Every node restarts asking for the other kind.
	for i := range tc.nodes {
		if err := tc.nodes[i].Shutdown(ctx); err != nil {
			t.Logf("shutdown n%d: %v", i+1, err)
		}
		tc.nodes[i] = nil
		tc.cfgs[i].RaftLogStore = map[bool]string{true: "wal", false: "bolt"}[i == 0]
	}
	for i := range tc.nodes {
		tc.start(i)
	}
	if _, err := tc.client.Pay(ctx, 1, client.PayRequest{Key: "after", Amount: 7, Merchant: "m"}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range tc.nodes {
		waitFor(t, 10*time.Second, "node has both payments", func() bool {
			a, err := tc.client.GetAccount(ctx, 1, client.Stale(), client.At(nd.HTTPAddr()))
			return err == nil && a.Accepted == 12
		})
	}
	if !has(0, "raft.db") || has(0, "wal") {
		t.Fatal("n1 changed its log store on restart")
	}
	for i := 1; i < 3; i++ {
		if has(i, "raft.db") || !has(i, "wal/wal-meta.db") {
			t.Fatalf("n%d changed its log store on restart", i+1)
		}
	}
}
