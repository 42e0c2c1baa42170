package docker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/cluster/compose"
)

// setupProject returns a compose project of its own (project, image tag
// and network), or skips the test, saying why, when Docker is not usable.
// It builds nothing and starts nothing.
func setupProject(ctx context.Context, t *testing.T, prefix string) *compose.Project {
	t.Helper()
	composeCmd, err := compose.Detect(ctx)
	if errors.Is(err, compose.ErrUnusable) {
		t.Skipf("docker: %v; install Docker to run the container test", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	root, err := cluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	id, err := compose.RandomID()
	if err != nil {
		t.Fatal(err)
	}
	p := &compose.Project{Root: root, Compose: composeCmd, Name: prefix + id, Image: "rzone:test-" + id}
	if err := p.PickIPPrefix(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("compose %q, project %s, image %s, network %s.0/24", strings.Join(composeCmd, " "), p.Name, p.Image, p.IPPrefix)
	return p
}

// buildImage builds the image from a temporary build context; it is
// removed when the test ends.
func buildImage(ctx context.Context, t *testing.T, p *compose.Project) {
	t.Helper()
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { quiet(p.RemoveImage) })
	if err := p.BuildImage(bctx, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// up starts the cluster and returns once compose has started every
// service (the nodes healthy, init created). It first registers the clean
// up: on failure, the containers' state and logs go to the test log; then
// "down -v" removes containers, network and volumes.
func up(ctx context.Context, t *testing.T, p *compose.Project) {
	t.Helper()
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			t.Log(p.Dump(cctx, 150))
		}
		begin := time.Now()
		if err := p.Down(cctx); err != nil {
			t.Errorf("compose down: %v", err)
		}
		t.Logf("%-34s %7s", "compose down -v", time.Since(begin).Round(100*time.Millisecond))
	})
	uctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := p.Up(uctx); err != nil {
		t.Fatal(err)
	}
}

// quiet runs a clean-up step with a timeout of its own (the test's
// context may have ended), ignoring its failure.
func quiet(f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = f(ctx)
}

// waitFor polls cond every second until it returns nil, and fails the test
// with cond's last error after d or when ctx ends.
func waitFor(ctx context.Context, t *testing.T, d time.Duration, what string, cond func(context.Context) error) {
	t.Helper()
	if err := compose.Poll(ctx, d, what, cond); err != nil {
		t.Fatal(err)
	}
}
