package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Project is one run of docker-compose.yml: a compose project, an image tag
// and a network of its own. Its methods may be called concurrently; each
// runs docker or compose commands.
type Project struct {
	// Root is the module root, where Dockerfile.local and docker-compose.yml are.
	Root string
	// Compose is the compose command: "docker compose" or "docker-compose".
	Compose []string
	// Name is the compose project name, [a-z0-9] only (Compose v1 strips
	// the rest).
	Name string
	// Image is the image tag built and run.
	Image string
	// IPPrefix is the first three octets of the cluster network's /24
	// (RZONE_IP_PREFIX); PickIPPrefix chooses one no other network uses.
	IPPrefix string
	// HTTPBind is where a1's API is published (RZONE_HTTP_BIND). Empty
	// means "127.0.0.1:0", a free loopback port (Port says which).
	HTTPBind string
	// Overrides are compose files applied over docker-compose.yml, in
	// order.
	Overrides []string
}

// Detect returns the compose command to use, or an error wrapping
// ErrUnusable that says why Docker cannot run the cluster: no docker
// binary, no reachable daemon, or no compose.
func Detect(ctx context.Context) ([]string, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, fmt.Errorf("%w: no docker binary on PATH", ErrUnusable)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w: the Docker daemon is not reachable (docker info: %w: %s)", ErrUnusable, err, bytes.TrimSpace(out))
	}
	if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}, nil
	}
	return nil, fmt.Errorf("%w: neither 'docker compose' nor 'docker-compose' is installed", ErrUnusable)
}

// RandomID returns 8 random hex digits, for project names and image tags.
func RandomID() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("compose: random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Network is the compose project's default network, where the nodes'
// names (a1, b1, ...) resolve.
func (p *Project) Network() string { return p.Name + "_default" }

// NodeIP is node's fixed address on the project's network.
func (p *Project) NodeIP(n Node) string { return fmt.Sprintf("%s.%d", p.IPPrefix, n.Host) }

// Run runs a command in the module root with the project's settings in its
// environment and returns its stdout and stderr; the error carries stderr.
func (p *Project) Run(ctx context.Context, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = p.Root
	bind := p.HTTPBind
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	cmd.Env = append(os.Environ(),
		"RZONE_IMAGE="+p.Image,
		"RZONE_HTTP_BIND="+bind,
		"RZONE_IP_PREFIX="+p.IPPrefix,
	)
	cmd.WaitDelay = 5 * time.Second
	var o, eb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &eb
	if err := cmd.Run(); err != nil {
		return o.String(), eb.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, eb.String())
	}
	return o.String(), eb.String(), nil
}

// ComposeRun runs a compose subcommand on docker-compose.yml and the
// overrides as the project and returns its stdout.
func (p *Project) ComposeRun(ctx context.Context, args ...string) (string, error) {
	full := append(slices.Clone(p.Compose[1:]), "-p", p.Name, "-f", filepath.Join(p.Root, "docker-compose.yml"))
	for _, o := range p.Overrides {
		full = append(full, "-f", o)
	}
	out, _, err := p.Run(ctx, p.Compose[0], append(full, args...)...)
	return out, err
}

// BuildImage builds the static binary into dir, a build context laid out
// as Dockerfile.local expects (out/docker/rzone, out/docker/data) with the
// repository's Dockerfile.local and .dockerignore, and builds p.Image from
// it (no image is pulled).
// RemoveImage removes it.
func (p *Project) BuildImage(ctx context.Context, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "out", "docker", "data"), 0o755); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	for _, f := range []string{"Dockerfile.local", ".dockerignore"} {
		b, err := os.ReadFile(filepath.Join(p.Root, f))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("compose: copy %s: %w", f, err)
		}
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(dir, "out", "docker", "rzone"), "./cmd/rzone")
	build.Dir = p.Root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("compose: go build: %w\n%s", err, out)
	}
	if _, _, err := p.Run(ctx, "docker", "build", "-q", "-f", filepath.Join(dir, "Dockerfile.local"), "-t", p.Image, dir); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return nil
}

// RemoveImage removes p.Image, ignoring a missing one.
func (p *Project) RemoveImage(ctx context.Context) error {
	_, _, err := p.Run(ctx, "docker", "rmi", "-f", p.Image)
	return err
}

// Up starts the cluster and returns once compose has started every
// service (the nodes and init; the nodes turn healthy once the cluster is
// initialized, see Healthy).
func (p *Project) Up(ctx context.Context) error {
	_, err := p.ComposeRun(ctx, "up", "-d")
	return err
}

// Down removes the project's containers, network and volumes.
func (p *Project) Down(ctx context.Context) error {
	_, err := p.ComposeRun(ctx, "down", "-v", "--remove-orphans", "-t", "5")
	return err
}

// Dump returns the containers' state and the last lines of their logs,
// for a failure's report.
func (p *Project) Dump(ctx context.Context, tail int) string {
	ps, _ := p.ComposeRun(ctx, "ps", "-a")
	logs, _ := p.ComposeRun(ctx, "logs", "--no-color", "--tail", fmt.Sprint(tail))
	return fmt.Sprintf("containers:\n%s\nlogs (last %d lines each):\n%s", ps, tail, logs)
}

// PickIPPrefix sets p.IPPrefix to 172.30.X for a random X in [100, 250)
// whose /24 overlaps no Docker network and no address of this machine, so
// that the cluster starts next to a developer's (172.30.70 by default) and
// next to other runs.
func (p *Project) PickIPPrefix(ctx context.Context) error {
	var taken []*net.IPNet
	ids, _, err := p.Run(ctx, "docker", "network", "ls", "-q")
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	out, _, err := p.Run(ctx, "docker", append([]string{"network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, strings.Fields(ids)...)...)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	for _, f := range strings.Fields(out) {
		if _, n, err := net.ParseCIDR(f); err == nil {
			taken = append(taken, n)
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("compose: %w", err)
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
			p.IPPrefix = prefix
			return nil
		}
	}
	return fmt.Errorf("compose: no free 172.30.X.0/24 network among 50 tries; taken: %v", taken)
}

// Port returns the loopback address compose published service's port on.
func (p *Project) Port(ctx context.Context, service string, port int) (string, error) {
	out, err := p.ComposeRun(ctx, "port", service, fmt.Sprint(port))
	if err != nil {
		return "", err
	}
	addr := strings.TrimSpace(out)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return "", fmt.Errorf("compose: %s's port %d is published on %q, want a loopback address", service, port, addr)
	}
	return addr, nil
}

// ContainerID returns the id of service's container.
func (p *Project) ContainerID(ctx context.Context, service string) (string, error) {
	out, err := p.ComposeRun(ctx, "ps", "-a", "-q", service)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(out)
	if id == "" || strings.ContainsAny(id, " \n") {
		return "", fmt.Errorf("compose: service %s has container ids %q, want one", service, id)
	}
	return id, nil
}

// InitExited reports nil once the init service's container has exited
// with status 0 ("cluster init" succeeded, possibly after restarts), and
// otherwise what it is doing; restarts is how often it was restarted.
func (p *Project) InitExited(ctx context.Context) (restarts int, err error) {
	id, err := p.ContainerID(ctx, "init")
	if err != nil {
		return 0, err
	}
	out, _, err := p.Run(ctx, "docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}", id)
	if err != nil {
		return 0, err
	}
	var status string
	var code int
	if _, err := fmt.Sscan(out, &status, &code, &restarts); err != nil {
		return 0, fmt.Errorf("docker inspect %q: %w", out, err)
	}
	if status != "exited" || code != 0 {
		return restarts, fmt.Errorf("init is %s with exit code %d after %d restarts", status, code, restarts)
	}
	return restarts, nil
}

// Healthy reports nil once the containers of services are healthy by
// their health check (rzone healthcheck: the node's /readyz), and
// otherwise the first that is not and what docker says of it.
func (p *Project) Healthy(ctx context.Context, services ...string) error {
	// Two commands in all, whatever the number of services: one call per
	// service (a compose ps and a docker inspect each) did not fit the
	// poll's 10 s per try on a loaded 2-core machine.
	out, err := p.ComposeRun(ctx, "ps", "-a", "-q")
	if err != nil {
		return err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return fmt.Errorf("compose: the project has no containers")
	}
	args := append([]string{"inspect", "-f", `{{index .Config.Labels "com.docker.compose.service"}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}`}, ids...)
	out, _, err = p.Run(ctx, "docker", args...)
	if err != nil {
		return err
	}
	status := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if svc, st, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			status[svc] = st
		}
	}
	for _, svc := range services {
		st, ok := status[svc]
		if !ok {
			return fmt.Errorf("compose: service %s has no container", svc)
		}
		if st != "healthy" {
			return fmt.Errorf("%s is %s", svc, st)
		}
	}
	return nil
}

// Poll calls cond every second until it returns nil, and returns cond's
// last error, wrapped with what, after d or when ctx ends. Each call of
// cond gets at most 10 seconds.
func Poll(ctx context.Context, d time.Duration, what string, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		err := cond(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last: %w)", what, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}
