package server

import (
	"fmt"
	"path/filepath"
	"time"

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
	return n.loadBootstrapToken()
}

// certPoll is how often a node checks its certificate file for a change.
const certPoll = 5 * time.Second

// ReloadCerts re-reads the node's certificate and key (on SIGHUP); new
// connections use them, open ones keep theirs. Without a certs dir it
// does nothing.
func (n *Node) ReloadCerts() error {
	if n.certs == nil {
		return nil
	}
	changed, err := n.certs.Reload()
	if changed {
		n.log.Info("node certificate reloaded")
	}
	return err
}

// certLoop reloads the certificate when its file changes.
func (n *Node) certLoop(stop <-chan struct{}) {
	n.every(stop, certPoll, func() {
		if err := n.ReloadCerts(); err != nil {
			n.log.Warn("reload certificates", "err", err)
		}
	})
}

// insecureWarning is how often a node that runs --insecure says so.
const insecureWarning = time.Minute

// warnInsecure logs, at start and every minute, that the node runs open.
func (n *Node) warnInsecure(stop <-chan struct{}) {
	warn := func() {
		n.log.Warn("running --insecure: no TLS, no tokens; anyone who reaches a port can read and change everything")
	}
	warn()
	n.every(stop, insecureWarning, warn)
}
