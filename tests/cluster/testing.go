package cluster

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BinaryEnv names an environment variable holding a prebuilt rzone binary
// that tests use instead of building ./cmd/rzone (for builds without tags).
const BinaryEnv = "RZONE_BINARY"

// Binary returns the rzone binary for tags: $RZONE_BINARY when set and no
// tags are asked for, else a fresh build. It skips t when the build fails
// or the binary has no `server` subcommand yet.
func Binary(t testing.TB, tags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := os.Getenv(BinaryEnv)
	if bin == "" || len(tags) > 0 {
		var err error
		if bin, err = Build(ctx, tags...); err != nil {
			t.Skipf("cannot build rzone (tags %v), skipping: %v", tags, err)
		}
	}
	if _, err := ServerSupports(ctx, bin, "node-id"); err != nil {
		t.Skipf("rzone server is not available yet, skipping: %v", err)
	}
	return bin
}

// LogsEnv names an environment variable holding a folder where Require
// keeps the node logs of each test (in a subfolder named after the test)
// instead of a temporary folder removed with the test.
const LogsEnv = "RZONE_TEST_LOGS"

// Require starts a cluster for t and closes it when t ends. Node logs go to
// cfg.LogDir (default $RZONE_TEST_LOGS/<test name> when that is set, else a
// folder under t.TempDir()); when t fails, the tail of every node's stderr
// is logged. Harness lines go to t.Logf.
func Require(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Binary == "" {
		cfg.Binary = Binary(t, cfg.Tags...)
	}
	if cfg.LogDir == "" {
		if dir := os.Getenv(LogsEnv); dir != "" {
			cfg.LogDir = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
			t.Logf("node logs in %s", cfg.LogDir)
		} else {
			cfg.LogDir = filepath.Join(t.TempDir(), "nodes")
		}
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	c, err := Start(context.Background(), cfg)
	if err != nil {
		logTails(t, cfg.LogDir)
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
		if t.Failed() {
			logTails(t, cfg.LogDir)
		}
	})
	return c
}

// logTails logs the last lines of every node's stderr under dir.
func logTails(t testing.TB, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*", "stderr.log"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		t.Logf("--- last lines of %s:\n%s", f, bytes.Join(lines, []byte("\n")))
	}
}
