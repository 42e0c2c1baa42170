package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/auth"
	"github.com/rzonedb/rzone/internal/certs"
	"github.com/rzonedb/rzone/tests/internal/httpapi"
)

// Security is what a client of a secure cluster needs: the cluster CA, a
// node certificate the harness presents (the harness is trusted as a node,
// so it may read /v1/internal/* as the replicas checker does), and the
// admin token every node accepts (--bootstrap-token-file).
type Security struct {
	// Dir holds the cluster CA (ca.crt, ca.key), the gossip key, the
	// harness's node certificate (node.crt, node.key) and admin.token.
	Dir string
	// CAFile is the CA certificate's path (RZONE_CA for the CLI).
	CAFile string
	// Token is the admin token (RZONE_TOKEN for the CLI).
	Token string
	// TLS trusts the CA and presents no certificate: what an application
	// client has.
	TLS *tls.Config
	// NodeTLS trusts the CA and presents the harness's node certificate.
	NodeTLS *tls.Config
}

// newSecurity makes a CA, a gossip key, a node certificate for the
// harness and an admin token in dir.
func newSecurity(dir string) (*Security, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := certs.CreateCA(dir); err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	if err := certs.CreateNode(dir, "harness", []string{"127.0.0.1", "localhost"}); err != nil {
		return nil, fmt.Errorf("harness certificate: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte(auth.NewToken()+"\n"), 0o644); err != nil {
		return nil, err
	}
	return LoadSecurity(dir)
}

// TokenFile is the admin token's file in a Security's folder (the name
// `rzone cert bootstrap` gives it).
const TokenFile = "admin.token"

// LoadSecurity reads a secure cluster's client side from dir: the CA
// certificate, a node certificate and key of the cluster's CA (node.crt,
// node.key) and the admin token (admin.token), as `rzone cert bootstrap`
// lays them out.
func LoadSecurity(dir string) (*Security, error) {
	token, err := os.ReadFile(filepath.Join(dir, TokenFile))
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	s := &Security{Dir: dir, CAFile: filepath.Join(dir, certs.CAFile), Token: strings.TrimSpace(string(token))}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster CA: %s holds no certificate", s.CAFile)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, certs.NodeFile), filepath.Join(dir, certs.NodeKey))
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	s.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	s.NodeTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}}
	return s, nil
}

// nodeCerts makes node id's own certs folder in dir: the CA certificate,
// the gossip key, and a node certificate for hosts signed by the CA (the
// CA key stays in the cluster's folder). uid, if not negative, owns it.
func (s *Security) nodeCerts(dir, id string, hosts []string, uid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []string{certs.CAFile, certs.CAKeyFile, certs.GossipFile} {
		if err := copyFile(filepath.Join(s.Dir, f), filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	if err := certs.CreateNode(dir, id, hosts); err != nil {
		return fmt.Errorf("node %s certificate: %w", id, err)
	}
	if err := os.Remove(filepath.Join(dir, certs.CAKeyFile)); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte(s.Token+"\n"), 0o600); err != nil {
		return err
	}
	if uid < 0 {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, uid)
	})
}

// APIOptions are the options of an httpapi client of this cluster: TLS
// trusting the CA, and the admin token.
func (s *Security) APIOptions() []httpapi.Option {
	if s == nil {
		return nil
	}
	return []httpapi.Option{httpapi.WithTLS(s.TLS), httpapi.WithToken(s.Token)}
}

// HTTPClient returns an HTTP client for raw requests to the cluster's
// nodes: it presents the harness's node certificate (nil Security: plain
// HTTP). Use Scheme for the URL and Authorize for the token.
func (s *Security) HTTPClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	if s != nil {
		tr.TLSClientConfig = s.NodeTLS.Clone()
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Scheme is "https" for a secure cluster, "http" for an open one.
func (s *Security) Scheme() string {
	if s == nil {
		return "http"
	}
	return "https"
}

// Authorize sets req's bearer token (nothing for an open cluster).
func (s *Security) Authorize(req *http.Request) {
	if s != nil {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
}

// CLIEnv is the environment the rzone CLI (and rzone bench) needs to
// reach the cluster: RZONE_CA and RZONE_TOKEN (none for an open cluster).
func (s *Security) CLIEnv() []string {
	if s == nil {
		return nil
	}
	return []string{"RZONE_CA=" + s.CAFile, "RZONE_TOKEN=" + s.Token}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ClientOptions are the options of a client library client of this
// cluster: TLS trusting the CA, and the admin token (none when open).
func (s *Security) ClientOptions() []client.Option {
	if s == nil {
		return nil
	}
	return []client.Option{client.WithTLS(s.TLS.Clone()), client.WithToken(s.Token)}
}

// ServerTLS is a TLS server config with the harness's node certificate
// (valid for 127.0.0.1): a proxy in front of the nodes serves with it.
func (s *Security) ServerTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: s.NodeTLS.Certificates}
}
