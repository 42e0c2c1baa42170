package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{} // tags → binary path
)

// Build compiles ./cmd/rzone with the given build tags and returns the
// binary's path: $TMPDIR/rzone-test-bin/rzone[-TAGS].pidPID, in a folder
// every node's user can read. A process builds each tag set once. The
// binary is built under a temporary name and renamed into place, so
// processes that build at the same time never run a half-written file; each
// process runs its own hard link to its build, so a later build by another
// process never changes the program its nodes restart with, and links of
// processes that have ended are removed.
func Build(ctx context.Context, tags ...string) (string, error) {
	key := strings.Join(tags, ",")
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[key]; ok {
		return p, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "rzone-test-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build rzone: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("build rzone: %w", err)
	}
	name := "rzone"
	if key != "" {
		name += "-" + strings.ReplaceAll(key, ",", "-")
	}
	bin := filepath.Join(dir, name)
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	args := []string{"build", "-o", tmp}
	if key != "" {
		args = append(args, "-tags", key)
	}
	args = append(args, "./cmd/rzone")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build rzone: %w", err)
	}
	// This process's nodes run a name of their own, a hard link to what
	// was just built: another process (another checkout, other code) may
	// build over bin while they run, and a node restarted by a fault must
	// come back as the same program, or its replicas diverge for no fault
	// of rzone's.
	mine := fmt.Sprintf("%s.pid%d", bin, os.Getpid())
	os.Remove(mine)
	if err := os.Link(bin, mine); err != nil {
		return "", fmt.Errorf("build rzone: %w", err)
	}
	sweepBinaries(bin)
	buildCache[key] = mine
	return mine, nil
}

// sweepBinaries removes the per-process links of bin whose process has
// ended.
func sweepBinaries(bin string) {
	links, _ := filepath.Glob(bin + ".pid*")
	for _, l := range links {
		pid, err := strconv.Atoi(strings.TrimPrefix(l, bin+".pid"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.Remove(l)
		}
	}
}

// ModuleRoot finds the folder of rzone's go.mod, walking up from the working
// directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/rzonedb/rzone")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find module root: no go.mod of github.com/rzonedb/rzone above the working directory")
		}
		dir = parent
	}
}

// ServerSupports reports whether `BIN server --help` lists flag (without
// dashes), so tests can skip what the binary cannot do yet.
func ServerSupports(ctx context.Context, bin, flag string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "server", "--help").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("%s server --help: %w\n%s", bin, err, out)
	}
	return bytes.Contains(out, []byte("--"+flag)), nil
}
