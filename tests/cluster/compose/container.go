package compose

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Container faults. Each takes a container id (ContainerID) and runs one
// docker command; the containers keep their fixed addresses throughout.

// Kill sends SIGKILL to the container; Docker does not restart a killed
// container on its own (restart: unless-stopped counts it as stopped by
// hand).
func (p *Project) Kill(ctx context.Context, ids ...string) error {
	return p.docker(ctx, append([]string{"kill", "-s", "KILL"}, ids...)...)
}

// Start starts stopped containers, together.
func (p *Project) Start(ctx context.Context, ids ...string) error {
	return p.docker(ctx, append([]string{"start"}, ids...)...)
}

// Pause freezes every process of the container (the cgroup freezer). The
// freezer can fail to freeze a process caught in the kernel (an fsync, say;
// runc reports "unable to freeze"), so Pause tries up to five times, a
// tenth of a second apart, and returns the last error.
func (p *Project) Pause(ctx context.Context, id string) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = p.docker(ctx, "pause", id); err == nil || !strings.Contains(err.Error(), "unable to freeze") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}

// Unpause thaws a paused container.
func (p *Project) Unpause(ctx context.Context, id string) error { return p.docker(ctx, "unpause", id) }

// Disconnect takes the container off the project's network: its packets
// to and from every node (and its published ports) are dropped until
// Connect.
func (p *Project) Disconnect(ctx context.Context, id string) error {
	return p.docker(ctx, "network", "disconnect", p.Network(), id)
}

// Connect puts node's container back on the project's network with its
// fixed address and its service name as alias, so that the other nodes
// reach it under the same name and address as before.
func (p *Project) Connect(ctx context.Context, n Node, id string) error {
	return p.docker(ctx, "network", "connect", "--ip", p.NodeIP(n), "--alias", n.ID, p.Network(), id)
}

// State is what docker says of one container.
type State struct {
	Running, Paused bool
	// Connected says the container is on the project's network.
	Connected bool
}

// Inspect returns the state of each container of ids.
func (p *Project) Inspect(ctx context.Context, ids ...string) (map[string]State, error) {
	out, _, err := p.Run(ctx, "docker", append([]string{"inspect", "-f",
		"{{.Id}} {{.State.Running}} {{.State.Paused}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}},{{end}}"}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	states := map[string]State{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("compose: docker inspect line %q", line)
		}
		st := State{Running: f[1] == "true", Paused: f[2] == "true"}
		if len(f) > 3 {
			for _, n := range strings.Split(f[3], ",") {
				st.Connected = st.Connected || n == p.Network()
			}
		}
		for _, id := range ids {
			if strings.HasPrefix(f[0], id) {
				states[id] = st
			}
		}
	}
	return states, nil
}

func (p *Project) docker(ctx context.Context, args ...string) error {
	if _, _, err := p.Run(ctx, "docker", args...); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return nil
}
