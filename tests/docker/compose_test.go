package docker

import (
	"bytes"
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// env is one run of the compose cluster: a project and an image tag of its
// own, so that it never touches a developer's cluster (project rzone,
// image rzone:dev).
type env struct {
	root    string   // the module root, where Dockerfile and docker-compose.yml are
	compose []string // "docker compose" or "docker-compose"
	project string   // compose project name, [a-z0-9] only (Compose v1 strips the rest)
	image   string   // image tag built and run
	// ipPrefix is the first three octets of the cluster network's /24
	// (RZONE_IP_PREFIX), one no other network uses.
	ipPrefix string
}

// dockerUsable returns the compose command to use, or skips the test,
// saying why, when there is no docker binary, no reachable daemon or no
// compose.
func dockerUsable(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker: no docker binary on PATH; install Docker to run the container test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		t.Skipf("docker: the Docker daemon is not reachable (docker info: %v: %s)", err, bytes.TrimSpace(out))
	}
	if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	t.Skip("docker: neither 'docker compose' nor 'docker-compose' is installed")
	return nil
}

// network is the compose project's default network, where the nodes'
// names (a1, b1, ...) resolve.
func (e *env) network() string { return e.project + "_default" }

// run runs a command in the module root with the project's settings in its
// environment and returns its stdout and stderr; the error carries stderr.
func (e *env) run(ctx context.Context, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(),
		"RZONE_IMAGE="+e.image,
		"RZONE_HTTP_BIND=127.0.0.1:0", // a free loopback port; publishedAPI says which
		"RZONE_IP_PREFIX="+e.ipPrefix,
	)
	cmd.WaitDelay = 5 * time.Second
	var o, eb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &eb
	if err := cmd.Run(); err != nil {
		return o.String(), eb.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, eb.String())
	}
	return o.String(), eb.String(), nil
}

// composeRun runs a compose subcommand on docker-compose.yml as the
// project.
func (e *env) composeRun(ctx context.Context, args ...string) (string, error) {
	full := append(append(slices.Clone(e.compose[1:]), "-p", e.project, "-f", filepath.Join(e.root, "docker-compose.yml")), args...)
	out, _, err := e.run(ctx, e.compose[0], full...)
	return out, err
}

// quiet runs a clean-up command with a timeout of its own (the test's
// context may have ended), ignoring its failure.
func (e *env) quiet(name string, args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e.run(ctx, name, args...)
}

// buildImage builds the static binary into a temporary build context laid
// out as the Dockerfile expects (out/docker/rzone, out/docker/data), with
// the repository's Dockerfile and .dockerignore, and builds e.image from
// it. The image is removed when the test ends.
func (e *env) buildImage(ctx context.Context, t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "out", "docker", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		if err := copyFile(e.root, dir, f); err != nil {
			t.Fatal(err)
		}
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(bctx, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(dir, "out", "docker", "rzone"), "./cmd/rzone")
	build.Dir = e.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Cleanup(func() { e.quiet("docker", "rmi", "-f", e.image) })
	if _, _, err := e.run(bctx, "docker", "build", "-q", "-t", e.image, dir); err != nil {
		t.Fatal(err)
	}
}

// up starts the cluster and returns once compose has started every
// service (the nodes healthy, init created). It first registers the clean
// up: on failure, the containers' state and logs go to the test log; then
// "down -v" removes containers, network and volumes.
func (e *env) up(ctx context.Context, t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			ps, _ := e.composeRun(cctx, "ps", "-a")
			logs, _ := e.composeRun(cctx, "logs", "--no-color", "--tail", "150")
			t.Logf("containers:\n%s\nlogs (last 150 lines each):\n%s", ps, logs)
		}
		begin := time.Now()
		if _, err := e.composeRun(cctx, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("compose down: %v", err)
		}
		t.Logf("%-34s %7s", "compose down -v", time.Since(begin).Round(100*time.Millisecond))
	})
	uctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := e.composeRun(uctx, "up", "-d"); err != nil {
		t.Fatal(err)
	}
}

// pickIPPrefix sets e.ipPrefix to 172.30.X.0/24 for a random X in
// [100, 250) that overlaps no Docker network and no address of this
// machine, so that the cluster starts next to a developer's (172.30.70 by
// default) and next to other runs.
func (e *env) pickIPPrefix(ctx context.Context, t *testing.T) {
	t.Helper()
	var taken []*net.IPNet
	ids, _, err := e.run(ctx, "docker", "network", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := e.run(ctx, "docker", append([]string{"network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, strings.Fields(ids)...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(out) {
		if _, n, err := net.ParseCIDR(f); err == nil {
			taken = append(taken, n)
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			taken = append(taken, n)
		}
	}
	for range 50 {
		prefix := fmt.Sprintf("172.30.%d", 100+mathrand.IntN(150))
		_, cand, _ := net.ParseCIDR(prefix + ".0/24")
		if !slices.ContainsFunc(taken, func(n *net.IPNet) bool { return n.Contains(cand.IP) || cand.Contains(n.IP) }) {
			e.ipPrefix = prefix
			return
		}
	}
	t.Fatalf("no free 172.30.X.0/24 network among 50 tries; taken: %v", taken)
}

// publishedAPI is the loopback address compose published a1's API on.
func (e *env) publishedAPI(ctx context.Context, t *testing.T) string {
	t.Helper()
	out, err := e.composeRun(ctx, "port", "a1", "7070")
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(out)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("a1's API is published on %q, want a loopback address", addr)
	}
	t.Logf("a1's API is published on %s", addr)
	return addr
}

// waitInitExited waits until the init service's container has exited with
// status 0: "cluster init" succeeded, possibly after restarts.
func (e *env) waitInitExited(ctx context.Context, t *testing.T) {
	t.Helper()
	waitFor(ctx, t, time.Minute, "the init service to exit 0", func(ctx context.Context) error {
		id, err := e.composeRun(ctx, "ps", "-a", "-q", "init")
		if err != nil {
			return err
		}
		id = strings.TrimSpace(id)
		if id == "" {
			return fmt.Errorf("no init container")
		}
		out, _, err := e.run(ctx, "docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}", id)
		if err != nil {
			return err
		}
		var status string
		var code, restarts int
		if _, err := fmt.Sscan(out, &status, &code, &restarts); err != nil {
			return fmt.Errorf("docker inspect %q: %w", out, err)
		}
		if status != "exited" || code != 0 {
			return fmt.Errorf("init is %s with exit code %d after %d restarts", status, code, restarts)
		}
		t.Logf("init exited 0 after %d restarts", restarts)
		return nil
	})
}
