package peer

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// httpClientHomes are the folders (relative to the repository root) whose
// code may build an http.Client or use http.DefaultClient (directly or
// through http.Get, Post, Head or PostForm):
var httpClientHomes = map[string]string{
	// The node-to-node client: one http.Client with timeouts, one place
	// for TLS and node certificates.
	"internal/peer": "",
	// The public Go client a user (and the CLI) builds; it speaks to a
	// cluster from outside, never node to node.
	"client": "",
	// The test harness (fault tests, Jepsen runner and nemesis, the
	// multi-process cluster helpers) drives a cluster from outside as a
	// user would; no node runs this code.
	"tests": "",
}

// TestOnlyPeerMakesNodeToNodeCalls parses every non-test Go file of the
// repository and fails on an http.Client built, or http.DefaultClient used,
// outside httpClientHomes: a node's calls to another node go through
// internal/peer, the CLI's through client/.
func TestOnlyPeerMakesNodeToNodeCalls(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if name := d.Name(); rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			if _, ok := httpClientHomes[rel]; ok {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		for _, v := range httpClientUses(t, path) {
			t.Errorf("%s:%d: %s outside internal/peer and client/: call other nodes through peer.Client, the cluster through client.Client", rel, v.line, v.what)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("parsed only %d files under %s", files, root)
	}
}

type httpUse struct {
	line int
	what string
}

// httpClientUses lists the http.Client literals, new(http.Client) and uses
// of the default client in the Go file at path.
func httpClientUses(t *testing.T, path string) []httpUse {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	name := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "net/http" {
			name = "http"
			if imp.Name != nil {
				name = imp.Name.Name
			}
		}
	}
	if name == "" || name == "_" {
		return nil
	}
	isHTTP := func(e ast.Expr, sel ...string) bool {
		s, ok := e.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		x, ok := s.X.(*ast.Ident)
		if !ok || x.Name != name {
			return false
		}
		for _, want := range sel {
			if s.Sel.Name == want {
				return true
			}
		}
		return false
	}
	var out []httpUse
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if isHTTP(n.Type, "Client") {
				out = append(out, httpUse{fset.Position(n.Pos()).Line, "http.Client{...}"})
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && len(n.Args) == 1 && isHTTP(n.Args[0], "Client") {
				out = append(out, httpUse{fset.Position(n.Pos()).Line, "new(http.Client)"})
			}
			if isHTTP(n.Fun, "Get", "Post", "Head", "PostForm") {
				out = append(out, httpUse{fset.Position(n.Pos()).Line, "http." + n.Fun.(*ast.SelectorExpr).Sel.Name + " (http.DefaultClient)"})
			}
		case *ast.SelectorExpr:
			if isHTTP(n, "DefaultClient") {
				out = append(out, httpUse{fset.Position(n.Pos()).Line, "http.DefaultClient"})
			}
		}
		return true
	})
	return out
}

// rawCallHomes are the files that may send a peer request themselves
// (Client.Do) instead of PostJSON or GetJSON, each for a reason the JSON
// calls cannot serve.
var rawCallHomes = map[string]string{
	"internal/console/series.go": "the console's reads carry the user's own credentials and Accept header",
}

// TestNodeToNodeCallsAreJSONCalls fails on a call of a peer client's Do
// (a receiver named peer or peers) outside internal/peer and rawCallHomes:
// a new node-to-node call goes through PostJSON or GetJSON, which decide its
// outcome (not applied, unknown, the node's error) one way for all.
func TestNodeToNodeCallsAreJSONCalls(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if name := d.Name(); rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || rel == "internal/peer" || rel == "tests" || rel == "client") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Do" {
				return true
			}
			var recv string
			switch x := sel.X.(type) {
			case *ast.SelectorExpr:
				recv = x.Sel.Name
			case *ast.Ident:
				recv = x.Name
			}
			if recv != "peer" && recv != "peers" {
				return true
			}
			seen[rel] = true
			if _, ok := rawCallHomes[rel]; !ok {
				t.Errorf("%s:%d: a peer request sent with Do: use peer.Client.PostJSON or GetJSON (or add the file to rawCallHomes with the reason)", rel, fset.Position(call.Pos()).Line)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The scan finds the calls it allows: it is not blind.
	for home := range rawCallHomes {
		if !seen[home] {
			t.Errorf("%s makes no raw peer call any more: take it out of rawCallHomes", home)
		}
	}
}
