package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/rzonedb/rzone/internal/testnet"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
)

// TestDevJSONLogsAreLossless starts `rzone dev` (3 zones of 3 nodes, the
// default, secure) with --log-format json at debug level, puts some load
// on it, stops it with SIGTERM, and decodes every line it logged: each is
// one JSON object with no key twice, no value that is still a format
// string ("%v" verbs) or an empty object, and no line at ERROR level. On
// the way it checks that the metric names README.md gives exist on the
// nodes' /metrics.
func TestDevJSONLogsAreLossless(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 9-node cluster")
	}
	bin := buildRzone(t)
	p := testnet.PortRun(t, 27)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "dev.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	api := fmt.Sprintf("127.0.0.1:%d", p)
	cmd := exec.Command(bin, "dev", "--log-format", "json", "--log-level", "debug", "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", api, "--raft-addr", fmt.Sprintf("127.0.0.1:%d", p+9), "--gossip-addr", fmt.Sprintf("127.0.0.1:%d", p+18))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() { cmd.Process.Kill() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Log("dev: " + sc.Text())
			if v, ok := strings.CutPrefix(sc.Text(), "export RZONE_TOKEN="); ok {
				ready <- v
			}
		}
		exited <- cmd.Wait()
	}()
	var token string
	select {
	case token = <-ready:
	case <-time.After(90 * time.Second):
		t.Fatal("rzone dev printed no RZONE_TOKEN line in 90s")
	}
	conf, err := client.LoadCA(filepath.Join(dir, "data", "certs", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	var apis []string
	for i := 0; i < 9; i++ {
		apis = append(apis, fmt.Sprintf("127.0.0.1:%d", p+i))
	}
	c, err := client.New(apis, client.WithTLS(conf), client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for u := uint64(1); u <= 60; u++ {
		if _, err := c.PutAccount(ctx, u, 100_000); err != nil {
			t.Fatalf("put account %d: %v", u, err)
		}
		if _, err := c.Pay(ctx, u, client.PayRequest{Key: fmt.Sprint("k", u), Amount: 1999, Merchant: "m"}); err != nil {
			t.Fatalf("pay %d: %v", u, err)
		}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	checkReadmeMetrics(t, hc, token, apis)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("rzone dev after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("rzone dev did not stop within 30s of SIGTERM")
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	checkJSONLog(t, b)
}

// formatVerb matches a fmt verb left in a value.
var formatVerb = regexp.MustCompile(`%[-+# 0]*[0-9]*(\.[0-9]+)?[vsdqxXtfgeTp]`)

// checkJSONLog decodes every line of a JSON log as TestDevJSONLogsAreLossless says.
func checkJSONLog(t *testing.T, b []byte) {
	t.Helper()
	lines, bad := 0, 0
	fail := func(n int, line, why string) {
		bad++
		if bad <= 20 {
			t.Errorf("line %d: %s: %s", n, why, line)
		}
	}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		lines++
		dec := json.NewDecoder(strings.NewReader(line))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			fail(i+1, line, "not a JSON object")
			continue
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				fail(i+1, line, err.Error())
				break
			}
			k := tok.(string)
			if seen[k] {
				fail(i+1, line, fmt.Sprintf("key %q twice", k))
			}
			seen[k] = true
			var v any
			if err := dec.Decode(&v); err != nil {
				fail(i+1, line, err.Error())
				break
			}
			if why := lossy(v); why != "" {
				fail(i+1, line, fmt.Sprintf("%s: %s", k, why))
			}
			if k == "level" && v == "ERROR" {
				fail(i+1, line, "an ERROR line in a normal start, load and stop")
			}
		}
	}
	if lines < 100 {
		t.Errorf("only %d log lines at debug level", lines)
	}
	t.Logf("%d JSON log lines checked", lines)
}

// lossy says what is wrong with a decoded value, or "".
func lossy(v any) string {
	switch v := v.(type) {
	case string:
		if formatVerb.MatchString(v) {
			return "format string " + v
		}
	case map[string]any:
		if len(v) == 0 {
			return "empty object"
		}
		for _, e := range v {
			if why := lossy(e); why != "" {
				return why
			}
		}
	case []any:
		for _, e := range v {
			if why := lossy(e); why != "" {
				return why
			}
		}
	}
	return ""
}

// readmeMetric is a metric name in backquotes in README.md.
var readmeMetric = regexp.MustCompile("`((?:rzone|raft|memberlist)_[a-zA-Z_]+)")

// checkReadmeMetrics: every metric README.md's "### Metrics worth alerting
// on" names is on some node's /metrics, and every other name README.md
// gives is on /metrics or, for series that appear only after an event (a
// failover, a failed renewal), defined in rzone's source.
func checkReadmeMetrics(t *testing.T, hc *http.Client, token string, apis []string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, a := range apis {
		req, _ := http.NewRequest(http.MethodGet, "https://"+a+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(body), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
				served[f[2]] = true
			}
		}
	}
	_, alerting, ok := bytes.Cut(readme, []byte("### Metrics worth alerting on"))
	if !ok {
		t.Fatal(`README.md has no "### Metrics worth alerting on"`)
	}
	if i := bytes.Index(alerting, []byte("\n#")); i >= 0 {
		alerting = alerting[:i]
	}
	named := 0
	family := func(name string) string {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := strings.CutSuffix(name, suffix); ok && served[f] {
				return f
			}
		}
		return name
	}
	for _, m := range readmeMetric.FindAllSubmatch(alerting, -1) {
		named++
		if !served[family(string(m[1]))] {
			t.Errorf("README.md alerts on %s, which no node serves on /metrics", m[1])
		}
	}
	if named < 5 {
		t.Errorf("README.md's alerting section names %d metrics", named)
	}
	// The names in ## Metrics and the alerting section.
	_, metrics, _ := bytes.Cut(readme, []byte("\n## Metrics\n"))
	if i := bytes.Index(metrics, []byte("\n## ")); i >= 0 {
		metrics = metrics[:i]
	}
	metrics = append(metrics, alerting...)
	var src bytes.Buffer
	for _, d := range []string{"../../server", "../../zone", "../../cluster", "../../scheduler/run", "../../internal/gossip", "../../internal/metrics"} {
		files, _ := filepath.Glob(filepath.Join(d, "*.go"))
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				b, _ := os.ReadFile(f)
				src.Write(b)
			}
		}
	}
	for _, m := range readmeMetric.FindAllSubmatch(metrics, -1) {
		name := family(string(m[1]))
		if !served[name] && !bytes.Contains(src.Bytes(), []byte(`"`+name+`"`)) {
			t.Errorf("README.md names %s, which is neither on /metrics nor defined in the source", name)
		}
	}
}
