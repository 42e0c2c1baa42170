package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
)

// Node is one `rzone server` process of a Cluster. Its methods are safe for
// concurrent use.
type Node struct {
	// ID is the node id: n1, n2, ... in a single zone; in a multi-zone
	// cluster the zone's name in lower case and a number (a1, a2, b1, ...).
	ID string
	// Zone is the node's zone in a multi-zone cluster, "" in a single zone.
	Zone string
	// IP is the node's own loopback address.
	IP string
	// RaftAddr and HTTPAddr are the addresses the node listens on.
	RaftAddr, HTTPAddr string
	// GossipAddr is the node's memberlist address (TCP and UDP) in a
	// multi-zone cluster, "" in a single zone.
	GossipAddr string
	// DataDir is the node's data folder; it survives Kill and Restart.
	DataDir string
	// LogDir holds stdout.log and stderr.log (appended to across restarts).
	LogDir string
	// UID is the Unix user the process runs as, or -1 when it runs as the
	// test's own user.
	UID int

	bin  string
	args []string // server flags common to every start
	logf func(string, ...any)
	api  *httpapi.Client
	sec  *Security    // nil for an open cluster
	http *http.Client // the harness's raw requests (node certificate when secure)

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been reaped
	paused  bool
	starts  int
	lastErr error
}

// API returns a no-retry client of this node's HTTP API.
func (n *Node) API() *httpapi.Client { return n.api }

// Running reports whether the node's process is alive (paused counts).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runningLocked()
}

func (n *Node) runningLocked() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Paused reports whether the node is stopped by SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// PID is the process id of the running node, or 0.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return 0
	}
	return n.cmd.Process.Pid
}

// start launches the process with the common flags plus extra.
func (n *Node) start(extra ...string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.runningLocked() {
		return fmt.Errorf("start %s: already running (pid %d)", n.ID, n.cmd.Process.Pid)
	}
	stdout, err := os.OpenFile(filepath.Join(n.LogDir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	stderr, err := os.OpenFile(filepath.Join(n.LogDir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		stdout.Close()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	n.starts++
	fmt.Fprintf(stderr, "=== rzone test harness: start #%d of %s at %s\n", n.starts, n.ID, time.Now().Format(time.RFC3339Nano))
	args := append(append([]string{"server"}, n.args...), extra...)
	cmd := exec.Command(n.bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Dir = n.DataDir
	cmd.Env = append(os.Environ(), "TMPDIR="+n.DataDir)
	// Own process group: a Ctrl-C to the test does not reach the node
	// before the harness has recorded it, and signals go to one PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if n.UID >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(n.UID), Gid: uint32(n.UID)}
	}
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		return fmt.Errorf("start %s: %s %v: %w", n.ID, n.bin, args, err)
	}
	n.logf("cluster: started %s pid %d: rzone %v", n.ID, cmd.Process.Pid, args)
	exited := make(chan struct{})
	n.cmd, n.exited, n.paused = cmd, exited, false
	go func() {
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		n.mu.Lock()
		n.lastErr = err
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Kill sends SIGKILL to the node's process and waits until it is reaped.
// Killing a node that is not running is a no-op.
func (n *Node) Kill() error {
	n.mu.Lock()
	if !n.runningLocked() {
		n.mu.Unlock()
		return nil
	}
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", n.ID, cmd.Process.Pid, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("kill %s (pid %d): not reaped after 10s", n.ID, cmd.Process.Pid)
	}
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	n.logf("cluster: killed %s (pid %d)", n.ID, cmd.Process.Pid)
	return nil
}

// ErrNotGraceful is StopGracefully's error when the node had to be killed.
var ErrNotGraceful = errors.New("cluster: the node did not exit on SIGTERM in time and was killed")

// StopGracefully is Stop that fails when the node did not exit on its own
// within grace (it is killed then all the same): a test of the graceful
// shutdown itself.
func (n *Node) StopGracefully(grace time.Duration) error {
	killed, err := n.stop(grace)
	if err == nil && killed {
		err = fmt.Errorf("%w (%s, after %s)", ErrNotGraceful, n.ID, grace)
	}
	return err
}

// Stop asks the node to shut down with SIGTERM and kills it if it has not
// exited within grace.
func (n *Node) Stop(grace time.Duration) error {
	_, err := n.stop(grace)
	return err
}

func (n *Node) stop(grace time.Duration) (killed bool, err error) {
	n.mu.Lock()
	if !n.runningLocked() {
		n.mu.Unlock()
		return false, nil
	}
	cmd, exited, paused := n.cmd, n.exited, n.paused
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if paused {
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	select {
	case <-exited:
		n.logf("cluster: stopped %s (pid %d)", n.ID, cmd.Process.Pid)
		return false, nil
	case <-time.After(grace):
		n.logf("cluster: %s (pid %d) did not exit within %s of SIGTERM; killing it", n.ID, cmd.Process.Pid, grace)
		return true, n.Kill()
	}
}

// Restart starts a node that was killed or stopped, on the same data
// folder and addresses, and waits until it answers /healthz.
func (n *Node) Restart(ctx context.Context) error {
	if err := n.start(); err != nil {
		return err
	}
	return n.WaitHealthy(ctx)
}

// RestartInjected is Restart with fault added to the node's --inject
// faults (a faultinject build), for this run of its process only: a later
// Restart starts it as configured.
func (n *Node) RestartInjected(ctx context.Context, fault string) error {
	faults := fault
	for i := 0; i+1 < len(n.args); i++ {
		if n.args[i] == "--inject" {
			faults = n.args[i+1] + "," + fault // the last --inject counts
		}
	}
	if err := n.start("--inject", faults); err != nil {
		return err
	}
	return n.WaitHealthy(ctx)
}

// Pause stops the node's process with SIGSTOP.
func (n *Node) Pause() error { return n.signalRunning(syscall.SIGSTOP, true) }

// Resume continues a paused node with SIGCONT.
func (n *Node) Resume() error { return n.signalRunning(syscall.SIGCONT, false) }

func (n *Node) signalRunning(sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return fmt.Errorf("%s %s: not running", sig, n.ID)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s %s (pid %d): %w", sig, n.ID, n.cmd.Process.Pid, err)
	}
	n.paused = paused
	n.logf("cluster: %s %s (pid %d)", sig, n.ID, n.cmd.Process.Pid)
	return nil
}

// WaitHealthy polls /healthz until it answers 200, the process dies, or ctx
// ends.
func (n *Node) WaitHealthy(ctx context.Context) error {
	return n.poll(ctx, "healthy", func(ctx context.Context) bool { return n.api.Healthy(ctx) })
}

// WaitReady polls /readyz until it answers 200.
func (n *Node) WaitReady(ctx context.Context) error {
	return n.poll(ctx, "ready", func(ctx context.Context) bool { return n.api.Ready(ctx) })
}

func (n *Node) poll(ctx context.Context, what string, ok func(context.Context) bool) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n.mu.Lock()
		running, lastErr := n.runningLocked(), n.lastErr
		n.mu.Unlock()
		if !running {
			return fmt.Errorf("wait for %s to be %s: process exited (%v); see %s", n.ID, what, lastErr, filepath.Join(n.LogDir, "stderr.log"))
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		good := ok(rctx)
		cancel()
		if good {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be %s: %w", n.ID, what, ctx.Err())
		case <-tick.C:
		}
	}
}

// Status reads the node's /v1/status.
func (n *Node) Status(ctx context.Context) (*api.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return n.api.Status(ctx)
}
