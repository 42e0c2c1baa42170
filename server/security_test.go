package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rzonedb/rzone/internal/testnet"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/auth"
	"github.com/rzonedb/rzone/internal/certs"
)

// testCA makes a CA, its gossip key and one node certificate for
// 127.0.0.1 in a new folder: the certs dir every test node shares.
func testCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := certs.CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := certs.CreateNode(dir, "node", []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testHTTPClient speaks to nodes that use certsDir (plain HTTP if empty),
// without a client certificate.
func testHTTPClient(t *testing.T, certsDir string) *http.Client {
	t.Helper()
	if certsDir == "" {
		return http.DefaultClient
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: caConfig(t, certsDir)}}
}

// caConfig trusts certsDir's CA; with certFile it presents that pair.
func caConfig(t *testing.T, certsDir string, pair ...string) *tls.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(certsDir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	c := &tls.Config{RootCAs: pool}
	if len(pair) == 2 {
		cert, err := tls.LoadX509KeyPair(pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}

// setupSecure starts a cluster whose nodes use one test CA.
func setupSecure(t *testing.T, zones []string, perZone int, tune func(*Config)) (*multiCluster, string) {
	t.Helper()
	dir := testCA(t)
	mc := setupZonesWith(t, zones, perZone, func(c *Config) {
		c.CertsDir, c.Insecure = dir, false
		if tune != nil {
			tune(c)
		}
	})
	if mc.adminToken == "" {
		t.Fatal("cluster init answered no admin token")
	}
	return mc, dir
}

// call sends method path to node i with token (none if empty) and
// answers the status and the error code of the reply.
func (mc *multiCluster) call(hc *http.Client, i int, method, path, token, body string) (int, api.Code) {
	mc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, mc.url(i, path), rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, "timeout"
		}
		mc.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var eb api.ErrorBody
	data, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
		return resp.StatusCode, eb.Error.Code
	}
	return resp.StatusCode, ""
}

// createToken makes a token of role through node i with the admin token.
func (mc *multiCluster) createToken(i int, role string) api.Token {
	mc.t.Helper()
	body, _ := json.Marshal(api.CreateTokenRequest{Role: role, Name: "test-" + role})
	req, _ := http.NewRequest(http.MethodPost, mc.url(i, "/v1/tokens"), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+mc.adminToken)
	resp, err := mc.hc.Do(req)
	if err != nil {
		mc.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok api.Token
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(data, &tok) != nil || tok.Token == "" {
		mc.t.Fatalf("create %s token: %s %s", role, resp.Status, data)
	}
	return tok
}

// waitToken waits until every node accepts token.
func (mc *multiCluster) waitToken(token string) {
	mc.t.Helper()
	for i := range mc.nodes {
		waitFor(mc.t, 5*time.Second, fmt.Sprintf("node %d accepts the token", i), func() bool {
			st, _ := mc.call(mc.hc, i, http.MethodGet, "/v1/status", token, "")
			return st == http.StatusOK
		})
	}
}

// concretePath fills a route pattern's wildcards with values that name
// nothing, so that a request with the right role changes nothing.
func concretePath(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodGet, pattern
	}
	if path == "/" {
		path = "/no/such/route"
	}
	r := strings.NewReplacer("{user}", "4242", "{key}", "no-key", "{cycle}", "202601", "{zone}", "NOZONE",
		"{shard}", "9999", "{job}", "nojob", "{id}", "noid", "{key...}", "test/key")
	return method, r.Replace(path)
}

// TestEveryRouteHasARole walks the router: every route must be in
// routeAccess, answer 401 without a token (unless open), 403 to a token of
// every role the route does not allow (and to an admin token on
// /v1/internal/*), and neither to every role it allows (a node
// certificate on /v1/internal/*).
func TestEveryRouteHasARole(t *testing.T) {
	mc, dir := setupSecure(t, []string{"A"}, 1, func(c *Config) { c.Pprof = true })
	nd := mc.nodes[0]
	nd.authFails.SetMax(1 << 30) // this test fails on purpose, often
	g := nd.routes(http.NewServeMux())
	for _, p := range g.patterns {
		if _, ok := routeAccess[p]; !ok {
			t.Errorf("route %q is not in routeAccess", p)
		}
	}
	roles := []string{fsm.RoleMetrics, fsm.RoleReader, fsm.RoleApp, fsm.RoleAdmin}
	tokens := map[string]string{}
	for _, role := range roles {
		tokens[role] = mc.createToken(0, role).Token
	}
	hc := mc.hc
	nodeHC := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: caConfig(t, dir, filepath.Join(dir, certs.NodeFile), filepath.Join(dir, certs.NodeKey))}}
	waitFor(t, 5*time.Second, "the tokens reach the node", func() bool {
		st, _ := mc.call(hc, 0, http.MethodGet, "/v1/status", tokens[fsm.RoleReader], "")
		return st == http.StatusOK
	})
	for _, p := range g.patterns {
		need := routeAccess[p]
		method, path := concretePath(p)
		t.Run(p, func(t *testing.T) {
			body := ""
			if method == http.MethodPost || method == http.MethodPut {
				body = "{" // malformed: a handler that gets it changes nothing
			}
			st, code := mc.call(hc, 0, method, path, "", body)
			switch need {
			case auth.AccessOpen:
				if st == 401 || st == 403 {
					t.Fatalf("open route answered %d without a token", st)
				}
				return
			case auth.AccessNode:
				if st != 403 || code != api.CodePermissionDenied {
					t.Fatalf("without a certificate: %d %s, want 403 permission_denied", st, code)
				}
				if st, code := mc.call(hc, 0, method, path, tokens[fsm.RoleAdmin], body); st != 403 {
					t.Fatalf("with an admin token: %d %s, want 403", st, code)
				}
				if st, code := mc.call(nodeHC, 0, method, path, "", body); st == 401 || st == 403 {
					t.Fatalf("with a node certificate: %d %s", st, code)
				}
				return
			}
			if st != 401 || code != api.CodeUnauthenticated {
				t.Fatalf("without a token: %d %s, want 401 unauthenticated", st, code)
			}
			if st, _ := mc.call(hc, 0, method, path, "rzt_0000000000000000_"+strings.Repeat("A", 43), body); st != 401 {
				t.Fatalf("with an unknown token: %d, want 401", st)
			}
			if need == auth.AccessInit {
				need = auth.AccessAdmin
			}
			for _, role := range roles {
				st, code := mc.call(hc, 0, method, path, tokens[role], body)
				if auth.Allows(role, need) && (st == 401 || st == 403) {
					t.Errorf("with a %s token: %d %s, want the route to let it through", role, st, code)
				}
				if !auth.Allows(role, need) && (st != 403 || code != api.CodePermissionDenied) {
					t.Errorf("with a %s token: %d %s, want 403 permission_denied", role, st, code)
				}
			}
		})
	}
}

// TestInternalRefusesAnythingButANodeCert: a client certificate of the
// cluster's CA gets 403 on /v1/internal/*; a node certificate of another
// CA is refused at the handshake; an app token cannot fail a zone over,
// move a shard, set config or make tokens.
func TestInternalRefusesAnythingButANodeCert(t *testing.T) {
	mc, dir := setupSecure(t, []string{"A"}, 1, nil)
	if err := certs.CreateClient(dir, "ops"); err != nil {
		t.Fatal(err)
	}
	clientHC := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: caConfig(t, dir, filepath.Join(dir, "client.ops.crt"), filepath.Join(dir, "client.ops.key"))}}
	if st, code := mc.call(clientHC, 0, http.MethodGet, "/v1/internal/replicas", mc.adminToken, ""); st != 403 || code != api.CodePermissionDenied {
		t.Fatalf("client certificate on an internal endpoint: %d %s, want 403", st, code)
	}
	other := testCA(t)
	otherHC := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: caConfig(t, dir, filepath.Join(other, certs.NodeFile), filepath.Join(other, certs.NodeKey))}}
	if resp, err := otherHC.Get(mc.url(0, "/v1/internal/replicas")); err == nil {
		resp.Body.Close()
		t.Fatalf("a node certificate of another CA got %s", resp.Status)
	}
	if resp, err := http.Get("http://" + mc.apis[0] + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the API answered plain HTTP")
		}
	}
	app := mc.createToken(0, "app").Token
	waitFor(t, 5*time.Second, "the app token works", func() bool {
		st, _ := mc.call(mc.hc, 0, http.MethodPut, "/v1/accounts/7", app, `{"credit_limit":1000}`)
		return st == 200
	})
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/zones/A/failover", ""},
		{http.MethodPost, "/v1/shards/1/move", `{"target":"A"}`},
		{http.MethodPut, "/v1/config/x", `{"value":"1"}`},
		{http.MethodPost, "/v1/tokens", `{"role":"admin"}`},
		{http.MethodGet, "/v1/tokens", ""},
		{http.MethodGet, "/v1/internal/replicas", ""},
	} {
		if st, code := mc.call(mc.hc, 0, c.method, c.path, app, c.body); st != 403 {
			t.Errorf("app token: %s %s answered %d %s, want 403", c.method, c.path, st, code)
		}
	}
}

// TestRevocationReachesEveryNodeWithinASecond revokes an app token after
// a meta leader change and checks that every node refuses it within a
// second.
func TestRevocationReachesEveryNodeWithinASecond(t *testing.T) {
	mc, _ := setupSecure(t, []string{"A", "B"}, 2, nil)
	tok := mc.createToken(0, "app")
	mc.waitToken(tok.Token)
	old := mc.metaLeader()
	if old < 0 {
		t.Fatal("no meta leader")
	}
	if err := mc.nodes[old].meta.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatalf("meta leadership transfer: %v", err)
	}
	waitFor(t, 5*time.Second, "a new meta leader", func() bool {
		i := mc.metaLeader()
		return i >= 0 && i != old
	})
	mc.waitToken(tok.Token) // tokens survive the leader change
	// Right after the leader change a node may not know the new leader
	// yet (503, retried); a retry of an applied revocation finds no token.
	tries := 0
	waitFor(t, 5*time.Second, "the revocation is applied", func() bool {
		tries++
		st, _ := mc.call(mc.hc, 3, http.MethodDelete, "/v1/tokens/"+tok.ID, mc.adminToken, "")
		return st == 200 || (st == 404 && tries > 1)
	})
	revoked := time.Now()
	for i := range mc.nodes {
		for {
			st, _ := mc.call(mc.hc, i, http.MethodGet, "/v1/status", tok.Token, "")
			if st == 401 {
				break
			}
			if time.Since(revoked) > time.Second {
				t.Fatalf("node %d still accepts the revoked token after %s", i, time.Since(revoked))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var list []api.Token
	req, _ := http.NewRequest(http.MethodGet, mc.url(1, "/v1/tokens"), nil)
	req.Header.Set("Authorization", "Bearer "+mc.adminToken)
	resp, err := mc.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if slices.ContainsFunc(list, func(x api.Token) bool { return x.ID == tok.ID || x.Token != "" }) {
		t.Fatalf("token list after revocation: %+v", list)
	}
}

// TestExpiredTokenRefusedEverywhere: a token made to last a second works
// on every node and is refused by every node once it ends.
func TestExpiredTokenRefusedEverywhere(t *testing.T) {
	mc, _ := setupSecure(t, []string{"A", "B"}, 1, nil)
	body, _ := json.Marshal(api.CreateTokenRequest{Role: "reader", Name: "brief", ExpiresInSec: 2})
	req, _ := http.NewRequest(http.MethodPost, mc.url(0, "/v1/tokens"), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+mc.adminToken)
	resp, err := mc.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok api.Token
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.ExpiresMs == 0 || tok.Token == "" {
		t.Fatalf("token %+v", tok)
	}
	mc.waitToken(tok.Token)
	time.Sleep(time.Until(time.UnixMilli(tok.ExpiresMs)))
	for i := range mc.nodes {
		if st, _ := mc.call(mc.hc, i, http.MethodGet, "/v1/status", tok.Token, ""); st != 401 {
			t.Fatalf("node %d answered %d to an expired token, want 401", i, st)
		}
	}
}

// TestInsecureSaysSo: an --insecure node marks every reply; a secure one
// does not.
func TestInsecureSaysSo(t *testing.T) {
	tc := setup(t, 1)
	resp, err := http.Get("http://" + tc.cfgs[0].HTTPAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(HeaderInsecure) != "true" {
		t.Fatalf("insecure node: %s %q", HeaderInsecure, resp.Header.Get(HeaderInsecure))
	}
	mc, _ := setupSecure(t, []string{"A"}, 1, nil)
	resp, err = mc.hc.Get(mc.url(0, "/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(HeaderInsecure) != "" {
		t.Fatalf("secure node says %s: %q", HeaderInsecure, resp.Header.Get(HeaderInsecure))
	}
}

// TestNodeOfAnotherCACannotJoin starts a node whose certificates come
// from another CA: gossip (keyed from the certs folder) never lets it in.
func TestNodeOfAnotherCACannotJoin(t *testing.T) {
	mc, _ := setupSecure(t, []string{"A"}, 1, nil)
	other := testCA(t)
	addrs := testnet.Addrs(t, 3)
	c := fastConfig("x1", t.TempDir(), addrs[0], addrs[1], mc.cfgs[0].Logger)
	c.CertsDir, c.Insecure = other, false
	c.Zone, c.GossipAddr, c.GossipFast = "A", addrs[2], true
	c.GossipSeeds = []string{mc.cfgs[0].GossipAddr}
	nd, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Shutdown(context.Background())
	time.Sleep(2 * time.Second)
	if n := len(mc.nodes[0].gossip.Alive()); n != 1 {
		t.Fatalf("the cluster's gossip shows %d nodes, want 1", n)
	}
}

// TestRunsOpenOnlyWhenTold: a config with neither a certs dir nor
// Insecure is refused.
func TestRunsOpenOnlyWhenTold(t *testing.T) {
	c := fastConfig("n1", t.TempDir(), "127.0.0.1:1", "127.0.0.1:2", nil)
	c.Insecure = false
	if err := c.Validate(); !errors.Is(err, ErrOpen) {
		t.Fatalf("validate: %v, want ErrOpen", err)
	}
	c.Insecure = true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestTokenRoleOfABareNode: a node with neither a bootstrap token nor a
// meta group finds no role for any token, well-formed or not, and does not
// panic (the token format itself is fuzzed in internal/auth).
func TestTokenRoleOfABareNode(t *testing.T) {
	n := &Node{}
	for _, h := range []string{"Bearer " + auth.NewToken(), auth.NewToken(), "Bearer rzt_0123456789abcdef_", "Bearer ", ""} {
		if role, ok := n.tokenRole(h); ok {
			t.Errorf("tokenRole(%q) = %q on a bare node", h, role)
		}
	}
}

// TestSecureStandaloneZoneForms: a standalone zone joins and replicates
// over mutual TLS, and its bootstrap token (the only token a standalone
// zone has) is an admin token.
func TestSecureStandaloneZoneForms(t *testing.T) {
	dir := testCA(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	token := auth.NewToken()
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := setupWith(t, 3, func(c *Config) {
		c.CertsDir, c.Insecure, c.BootstrapTokenFile = dir, false, tokenFile
	})
	conf, err := client.LoadCA(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, c := range tc.cfgs {
		addrs = append(addrs, c.HTTPAddr)
	}
	for _, opts := range [][]client.Option{{client.WithTLS(conf)}, {client.WithTLS(conf), client.WithToken(auth.NewToken())}} {
		c, _ := client.New(addrs, append(opts, client.WithMaxRetries(0))...)
		if _, err := c.PutAccount(context.Background(), 9, 100); !errors.Is(err, client.ErrUnauthenticated) {
			t.Fatalf("without the bootstrap token: %v, want unauthenticated", err)
		}
	}
	c, _ := client.New(addrs, client.WithTLS(conf), client.WithToken(token), client.WithBackoff(20*time.Millisecond, 200*time.Millisecond), client.WithMaxRetries(20))
	if _, err := c.PutAccount(context.Background(), 9, 100); err != nil {
		t.Fatal(err)
	}
	for i := range tc.nodes {
		waitFor(t, 5*time.Second, fmt.Sprintf("node %d has the account", i), func() bool {
			acc, err := c.GetAccount(context.Background(), 9, client.Stale(), client.At(addrs[i]))
			return err == nil && acc.CreditLimit == 100
		})
	}
}

// TestRolesAsDocumented checks the route table against the roles as the
// README describes them, written out here independently of auth.Allows:
// metrics reads /metrics only; reader every GET but the token list, the
// profiler and snapshots (admin's) and nothing else; app
// writes accounts, payments, repayments and batches and reads only its
// users' data (and the routes and status its client library needs);
// admin everything but /v1/internal/*, which takes node certificates.
func TestRolesAsDocumented(t *testing.T) {
	want := func(role, method, path string) bool {
		internal := strings.HasPrefix(path, "/v1/internal/")
		userData := strings.HasPrefix(path, "/v1/accounts/") || path == "/v1/payments/batch"
		switch role {
		case fsm.RoleAdmin:
			return !internal
		case fsm.RoleReader:
			return method == http.MethodGet && !internal && path != "/v1/tokens" && !strings.HasPrefix(path, "/debug/") &&
				!strings.HasPrefix(path, "/v1/snapshot/")
		case fsm.RoleMetrics:
			return path == "/metrics"
		case fsm.RoleApp:
			if method == http.MethodGet {
				return strings.HasPrefix(path, "/v1/accounts/{user}") || path == "/v1/routes" || path == "/v1/status"
			}
			return userData
		}
		return false
	}
	for pattern, need := range routeAccess {
		if need == auth.AccessOpen || need == auth.AccessAny {
			continue
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			t.Errorf("route %q has no method", pattern)
			continue
		}
		if need == auth.AccessInit {
			need = auth.AccessAdmin
		}
		for _, role := range []string{fsm.RoleMetrics, fsm.RoleReader, fsm.RoleApp, fsm.RoleAdmin} {
			if got, w := auth.Allows(role, need), want(role, method, path); got != w {
				t.Errorf("%s with a %s token: allowed %v, want %v", pattern, role, got, w)
			}
		}
	}
}
