package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Node is a node's loaded certs folder: the cluster CA, the node's own
// certificate (replaced by Reload) and the gossip key. Its TLS configs
// read the current certificate at every handshake, so a rotation takes
// effect without a restart. Safe for concurrent use.
type Node struct {
	dir  string
	pool *x509.CertPool
	// GossipKey is the cluster's gossip key from gossip.key (nil if the
	// folder has none).
	GossipKey []byte

	mu      sync.RWMutex
	cert    *tls.Certificate
	modTime time.Time // of node.crt when last loaded
}

// Load reads dir's CA, node certificate and gossip key.
func Load(dir string) (*Node, error) {
	data, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: %s holds no certificate", ErrNoCA, CAFile)
	}
	n := &Node{dir: dir, pool: pool}
	if _, err := n.Reload(); err != nil {
		return nil, err
	}
	if gk, err := os.ReadFile(filepath.Join(dir, GossipFile)); err == nil {
		n.GossipKey = gk
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read gossip key: %w", err)
	}
	return n, nil
}

// Reload re-reads the node certificate and key if node.crt changed since
// the last load, and reports whether it replaced them. On an error (a pair
// caught half written, say) the node keeps its current certificate.
func (n *Node) Reload() (bool, error) {
	path := filepath.Join(n.dir, NodeFile)
	st, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("node certificate: %w", err)
	}
	n.mu.RLock()
	same := n.cert != nil && st.ModTime().Equal(n.modTime)
	n.mu.RUnlock()
	if same {
		return false, nil
	}
	pair, err := tls.LoadX509KeyPair(path, filepath.Join(n.dir, NodeKey))
	if err != nil {
		return false, fmt.Errorf("load node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false, err
	}
	if !IsNode(leaf) {
		return false, fmt.Errorf("%s is not a node certificate", path)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: n.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return false, fmt.Errorf("node certificate not signed by the cluster CA: %w", err)
	}
	pair.Leaf = leaf
	n.mu.Lock()
	n.cert, n.modTime = &pair, st.ModTime()
	n.mu.Unlock()
	return true, nil
}

// Certificate is the node's current certificate.
func (n *Node) Certificate() *tls.Certificate {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.cert
}

// CAFile is the path of the cluster CA certificate.
func (n *Node) CAFile() string { return filepath.Join(n.dir, CAFile) }

// APIConfig is the TLS config of the HTTP API: TLS 1.3, the node's
// certificate; a client certificate is optional but, if given, must be
// signed by the cluster CA (node-to-node calls present theirs).
func (n *Node) APIConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return n.Certificate(), nil },
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      n.pool,
	}
}

// PeerServerConfig is the TLS config of a port only nodes may use (the
// Raft stream multiplexer): the other side must present a node
// certificate signed by the cluster CA.
func (n *Node) PeerServerConfig() *tls.Config {
	c := n.APIConfig()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.VerifyPeerCertificate = requireNode
	return c
}

// PeerClientConfig is the TLS config of this node's calls to other nodes:
// it presents the node's certificate and accepts only a node certificate
// signed by the cluster CA.
func (n *Node) PeerClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    n.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return n.Certificate(), nil
		},
		VerifyPeerCertificate: requireNode,
		ClientSessionCache:    tls.NewLRUClientSessionCache(256),
	}
}

// requireNode refuses a verified chain whose leaf is not a node
// certificate. It runs after the standard verification.
func requireNode(_ [][]byte, chains [][]*x509.Certificate) error {
	for _, ch := range chains {
		if len(ch) > 0 && IsNode(ch[0]) {
			return nil
		}
	}
	return errors.New("certs: the peer did not present a node certificate")
}

// HasNodeCert reports whether a TLS connection's verified client chain
// ends in a node certificate.
func HasNodeCert(st *tls.ConnectionState) bool {
	return st != nil && requireNode(nil, st.VerifiedChains) == nil
}
