package docker

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/tests/cluster"
	"github.com/rzonedb/rzone/tests/cluster/compose"
)

// TestDockerfileBuildsFromAClone builds the repository's multi-stage
// Dockerfile as a user would from a clone (`docker build .`, the context
// the repository's .dockerignore leaves), then runs the image's rzone.
//
// No registry is reachable here, so the build stage's Go image
// (GO_IMAGE) is made from this machine's own Go toolchain and a static
// busybox for the stage's shell, and the modules come from this machine's
// module cache, served as the GOPROXY the Dockerfile takes. Everything
// else (the stages, the static build, the scratch image, its user,
// folders and entry point) is the Dockerfile's own.
func TestDockerfileBuildsFromAClone(t *testing.T) {
	if testing.Short() {
		t.Skip("docker: skipped under -short (compiles rzone inside a container)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := compose.Detect(ctx); errors.Is(err, compose.ErrUnusable) {
		t.Skipf("docker: %v; install Docker to run the container test", err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox (Debian's busybox-static; .ci/run installs it): the local Go image needs a static shell")
	}
	root, err := cluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	id, err := compose.RandomID()
	if err != nil {
		t.Fatal(err)
	}
	goImage, image := "rzone-test-go:"+id, "rzone-test-ms:"+id
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		exec.CommandContext(cctx, "docker", "rmi", "-f", image, goImage).Run()
	})

	begin := time.Now()
	goImageFrom(ctx, t, goImage, busybox)
	t.Logf("Go image %s from the host's toolchain (%s): %s", goImage, runtime.Version(), time.Since(begin).Round(100*time.Millisecond))

	proxy := moduleProxy(t)
	begin = time.Now()
	docker(ctx, t, root, "", "build", "--network", "host",
		"--build-arg", "GO_IMAGE="+goImage, "--build-arg", "GOPROXY="+proxy,
		"--build-arg", "VERSION=v0.0.0-dockerfile-test", "--build-arg", "REVISION=0123abcd",
		"-t", image, ".")
	t.Logf("docker build . (multi-stage, Dockerfile): %s", time.Since(begin).Round(100*time.Millisecond))

	out := docker(ctx, t, "", "", "run", "--rm", image, "version")
	for _, want := range []string{"v0.0.0-dockerfile-test", "0123abcd"} {
		if !strings.Contains(out, want) {
			t.Errorf("rzone version in the image does not say %s:\n%s", want, out)
		}
	}
	// A scratch image: the binary, its folders and nothing else; it runs
	// unprivileged, and its entry point is rzone.
	cfg := docker(ctx, t, "", "", "image", "inspect", "-f", "{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Volumes}}", image)
	if want := `65532:65532 ["/rzone"] {"/data":{}}`; strings.TrimSpace(cfg) != want {
		t.Errorf("image config %q, want %q", strings.TrimSpace(cfg), want)
	}
	if help := docker(ctx, t, "", "", "run", "--rm", image, "server", "--help"); !strings.Contains(help, "--certs-dir") {
		t.Errorf("rzone server --help in the image:\n%s", help)
	}
}

// goImageFrom builds tag: this machine's Go toolchain, busybox as /bin/sh
// (and the few commands the build stage's shell runs), CA certificates, a
// home and a /tmp. It is the stand-in for the official Go image.
func goImageFrom(ctx context.Context, t *testing.T, tag, busybox string) {
	t.Helper()
	goroot := runtime.GOROOT()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output(); err == nil {
		goroot = strings.TrimSpace(string(out))
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"sh", "mkdir", "ls", "cat"} {
		if err := os.Symlink("busybox", filepath.Join(bin, cmd)); err != nil {
			t.Fatal(err)
		}
	}
	if certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		os.MkdirAll(filepath.Join(dir, "etc/ssl/certs"), 0o755)
		os.WriteFile(filepath.Join(dir, "etc/ssl/certs/ca-certificates.crt"), certs, 0o644)
	}
	// Two builds: the toolchain from GOROOT as its own context (nothing is
	// copied on disk), then the rest from dir on top of it.
	docker(ctx, t, goroot, "FROM scratch\nCOPY . /usr/local/go\n", "build", "-f", "-", "-t", tag+"-root", ".")
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag+"-root").Run() })
	docker(ctx, t, dir, "FROM "+tag+"-root\nCOPY . /\n"+
		"ENV PATH=/usr/local/go/bin:/go/bin:/bin GOPATH=/go HOME=/root GOTOOLCHAIN=local\nWORKDIR /tmp\nWORKDIR /root\n",
		"build", "-f", "-", "-t", tag, ".")
}

// moduleProxy serves this machine's module cache as a GOPROXY on a
// loopback port (the build runs with the host's network) and returns its
// URL. The cache holds every module go.mod needs once `go mod download`
// ran, as .ci/run does.
func moduleProxy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	dl := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	if _, err := os.Stat(dl); err != nil {
		t.Fatalf("no module cache to serve: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dl))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// docker runs docker with args in dir, with input on its stdin, and
// returns its output; it fails the test on an error.
func docker(ctx context.Context, t *testing.T, dir, input string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(input)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 4000))
	}
	return out.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
