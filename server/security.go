package server

import (
	"fmt"
	"path/filepath"

	"github.com/rzonedb/rzone/internal/certs"
	"github.com/rzonedb/rzone/internal/peer"
)

// loadCerts reads the certs folder (Config.CertsDir) and sets up the peer
// client with the node's certificate; without one, the node runs open.
func (n *Node) loadCerts() error {
	if n.cfg.CertsDir == "" {
		return nil
	}
	c, err := certs.Load(n.cfg.CertsDir)
	if err != nil {
		return fmt.Errorf("certs dir %s: %w", n.cfg.CertsDir, err)
	}
	if n.cfg.clustered() && len(n.cfg.GossipKey) == 0 && len(c.GossipKey) == 0 {
		return fmt.Errorf("certs dir %s: no %s, and no gossip key given: gossip must be encrypted", n.cfg.CertsDir, filepath.Join(n.cfg.CertsDir, certs.GossipFile))
	}
	n.certs = c
	n.peer = peer.NewClient(c.PeerClientConfig())
	return nil
}
