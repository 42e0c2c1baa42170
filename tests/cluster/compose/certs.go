package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// CertsFiles are what a client on this machine needs of the compose
// cluster's certs volume: the CA, the nodes' certificate and key (the
// harness is trusted as a node, to read /v1/internal/*) and the admin token.
var CertsFiles = []string{"ca.crt", "node.crt", "node.key", "admin.token"}

// CertsVolume is the project's certs volume (the certs service writes it,
// every node mounts it read-only).
func (p *Project) CertsVolume() string { return p.Name + "_certs" }

// InNetwork are the `docker run` arguments that put a container of the
// image on the cluster's network with the certs volume mounted and the
// CLI told where the CA and the admin token are.
func (p *Project) InNetwork() []string {
	return []string{"--network", p.Network(), "-v", p.CertsVolume() + ":/certs:ro",
		"-e", "RZONE_CA=/certs/ca.crt", "-e", "RZONE_TOKEN_FILE=/certs/admin.token"}
}

// CopyCerts copies CertsFiles out of the certs service's container into
// dir (0600), for cluster.LoadSecurity.
func (p *Project) CopyCerts(ctx context.Context, dir string) error {
	id, err := p.ContainerID(ctx, "certs")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	for _, f := range CertsFiles {
		to := filepath.Join(dir, f)
		if _, _, err := p.Run(ctx, "docker", "cp", id+":/certs/"+f, to); err != nil {
			return fmt.Errorf("compose: copy %s out of the certs volume: %w", f, err)
		}
		if err := os.Chmod(to, 0o600); err != nil {
			return fmt.Errorf("compose: %w", err)
		}
	}
	return nil
}
