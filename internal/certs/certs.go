// Package certs makes and loads a cluster's certificates: a cluster CA,
// node certificates (server and client use, one per node) and client
// certificates, all ECDSA P-256 made with crypto/x509. A certs folder holds
//
//	ca.crt, ca.key        the cluster CA (ca.key only where certificates are made)
//	node.crt, node.key    this node's certificate
//	client.NAME.crt/.key  client certificates
//	gossip.key            the cluster's gossip encryption key (32 bytes)
//
// Keys are written 0600. A node tells a node certificate from a client
// certificate by its organizational unit (NodeOU).
//
// certs imports no other rzone package.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names in a certs folder.
const (
	CAFile     = "ca.crt"
	CAKeyFile  = "ca.key"
	NodeFile   = "node.crt"
	NodeKey    = "node.key"
	GossipFile = "gossip.key"
)

// Organizational units that say what a certificate is for.
const (
	NodeOU   = "node"
	ClientOU = "client"
)

// Organization is the subject organization of every rzone certificate.
const Organization = "rzone"

// Lifetimes of the certificates made here.
const (
	CALifetime   = 10 * 365 * 24 * time.Hour
	CertLifetime = 5 * 365 * 24 * time.Hour
)

// Errors of this package.
var (
	// ErrExists is returned when a file to be created is already there.
	ErrExists = errors.New("certs: file exists")
	// ErrNoCA is returned when the CA certificate or key is missing.
	ErrNoCA = errors.New("certs: no CA in the certs folder")
)

// CreateCA makes a new cluster CA and gossip key in dir. It refuses to
// overwrite an existing CA.
func CreateCA(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create certs dir: %w", err)
	}
	for _, f := range []string{CAFile, CAKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, filepath.Join(dir, f))
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{Organization}, CommonName: "rzone CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create CA: %w", err)
	}
	if err := writePair(dir, CAFile, CAKeyFile, der, key); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, GossipFile)); err == nil {
		return nil
	}
	gk := make([]byte, 32)
	if _, err := rand.Read(gk); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, GossipFile), gk, 0o600)
}

// CreateNode makes dir's node certificate for nodeID, valid for every
// host (an IP address or a DNS name) the node listens or advertises on.
// It overwrites an existing node certificate (rotation).
func CreateNode(dir, nodeID string, hosts []string) error {
	if nodeID == "" || len(hosts) == 0 {
		return errors.New("certs: a node certificate needs a node id and at least one host")
	}
	tmpl := leaf(pkix.Name{Organization: []string{Organization}, OrganizationalUnit: []string{NodeOU}, CommonName: nodeID},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return sign(dir, tmpl, NodeFile, NodeKey)
}

// CreateClient makes the client certificate client.NAME.crt in dir.
func CreateClient(dir, name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("certs: bad client name %q", name)
	}
	tmpl := leaf(pkix.Name{Organization: []string{Organization}, OrganizationalUnit: []string{ClientOU}, CommonName: name},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	return sign(dir, tmpl, "client."+name+".crt", "client."+name+".key")
}

// IsNode reports whether c is a node certificate. The caller has verified
// its chain to the cluster CA.
func IsNode(c *x509.Certificate) bool {
	return c != nil && slices.Contains(c.Subject.OrganizationalUnit, NodeOU) &&
		slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
}

// Info describes one certificate of a certs folder.
type Info struct {
	File     string
	Kind     string // "ca", "node" or "client"
	Name     string // the subject's common name
	Hosts    []string
	NotAfter time.Time
}

// List describes the certificates in dir, by file name.
func List(dir string) ([]Info, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".crt") {
			continue
		}
		c, err := readCert(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		in := Info{File: e.Name(), Name: c.Subject.CommonName, NotAfter: c.NotAfter, Hosts: slices.Clone(c.DNSNames)}
		for _, ip := range c.IPAddresses {
			in.Hosts = append(in.Hosts, ip.String())
		}
		switch {
		case c.IsCA:
			in.Kind = "ca"
		case IsNode(c):
			in.Kind = "node"
		default:
			in.Kind = "client"
		}
		out = append(out, in)
	}
	return out, nil
}

func leaf(subject pkix.Name, usage []x509.ExtKeyUsage) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usage,
	}
}

// sign signs tmpl with dir's CA and writes the pair, replacing the files
// at once (a node reading them meanwhile sees the old or the new pair).
func sign(dir string, tmpl *x509.Certificate, certFile, keyFile string) error {
	ca, caKey, err := readCA(dir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("sign %s: %w", certFile, err)
	}
	return writePair(dir, certFile, keyFile, der, key)
}

func readCA(dir string) (*x509.Certificate, any, error) {
	ca, err := readCert(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNoCA, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNoCA, err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, nil, fmt.Errorf("%w: %s holds no PEM block", ErrNoCA, CAKeyFile)
	}
	key, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA key: %w", err)
	}
	return ca, key, nil
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no certificate", path)
	}
	return x509.ParseCertificate(b.Bytes)
}

func writePair(dir, certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, certFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("certs: crypto/rand failed: %v", err))
	}
	return n
}
