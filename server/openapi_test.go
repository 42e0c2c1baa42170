package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/rzonedb/rzone/cluster"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/internal/auth"
	"github.com/rzonedb/rzone/internal/console"
)

// The API's OpenAPI document (internal/api/openapi.json) is held to the
// router, to the Go types the handlers decode and encode, to the error
// codes and to README's examples.

const openAPIFile = "../internal/api/openapi.json"

// loadOpenAPI parses the embedded document with kin-openapi, resolving
// its references.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	return doc
}

// rawOpenAPI is the document as plain JSON, for the checks that look at
// keywords kin-openapi does not keep as written.
func rawOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(api.OpenAPI, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOpenAPIDocumentIsValid: the document is OpenAPI 3.1 and valid as
// such (schemas, references, parameters, security, examples).
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation(), openapi3.EnableMultiError()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	file, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, api.OpenAPI) {
		t.Fatal("the embedded document differs from internal/api/openapi.json")
	}
}

// roleName is how the document's x-rzone-role names an access level.
var roleName = map[auth.Access]string{
	auth.AccessOpen: "open", auth.AccessMetrics: "metrics", auth.AccessUser: "app or reader", auth.AccessReader: "reader", auth.AccessApp: "app",
	auth.AccessAdmin: "admin", auth.AccessInit: "init", auth.AccessNode: "node",
}

// routerRoutes lists "METHOD /path" for every route the router registers
// (with --pprof), in OpenAPI's path syntax ({key...} is {key}), with the
// access each requires. The catch-all "/" (404 and 405 replies) is no
// route of the API.
func routerRoutes(t *testing.T) map[string]auth.Access {
	t.Helper()
	n := &Node{cfg: Config{Pprof: true}}
	n.metrics = newMetrics(n)
	g := n.routes(http.NewServeMux())
	out := map[string]auth.Access{}
	for _, p := range g.patterns {
		if p == "/" {
			continue
		}
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			t.Fatalf("route %q has no method", p)
		}
		need, ok := routeAccess[p]
		if !ok {
			need = auth.AccessNode
		}
		out[method+" "+strings.ReplaceAll(path, "...}", "}")] = need
	}
	return out
}

// TestOpenAPIDescribesEveryRoute: every route of the router is in the
// document with the role routeAccess gives it, and the document names no
// route the router does not serve.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	routes := routerRoutes(t)
	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op
		}
	}
	var missing, extra []string
	for r, need := range routes {
		op, ok := documented[r]
		if !ok {
			missing = append(missing, r)
			continue
		}
		if got := op.Extensions["x-rzone-role"]; got != roleName[need] {
			t.Errorf("%s: x-rzone-role %v, the router requires %s", r, got, roleName[need])
		}
		if need == auth.AccessOpen && (op.Security == nil || len(*op.Security) != 0) {
			t.Errorf("%s is open: its security must be []", r)
		}
		if need == auth.AccessNode && (op.Security == nil || len(*op.Security) != 1 || (*op.Security)[0]["nodeCertificate"] == nil) {
			t.Errorf("%s takes a node certificate: its security must be nodeCertificate", r)
		}
	}
	for r := range documented {
		if _, ok := routes[r]; !ok {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("the router serves %s; the OpenAPI document does not describe it", r)
	}
	for _, r := range extra {
		t.Errorf("the OpenAPI document describes %s; the router does not serve it", r)
	}
	if len(routes) < 40 {
		t.Fatalf("found only %d routes in the router", len(routes))
	}
}

// TestOpenAPIServedEqualsFile: a node serves the file, byte for byte, at
// GET /v1/openapi.json, without a token.
func TestOpenAPIServedEqualsFile(t *testing.T) {
	tc := setup(t, 1)
	resp, err := http.Get("http://" + tc.cfgs[0].HTTPAddr + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	file, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, file) {
		t.Fatalf("served %d bytes that differ from internal/api/openapi.json (%d bytes)", len(got), len(file))
	}
}

// schemaTypes maps the document's component schemas to the Go types the
// handlers decode or encode. Joined, Revoked and Health are maps built in
// the handlers, Internal the private node-to-node messages, ErrorCode a
// string enum (checked by TestOpenAPIErrorCodes).
var schemaTypes = map[string]reflect.Type{
	"Error": reflect.TypeFor[api.Error](), "ErrorBody": reflect.TypeFor[api.ErrorBody](),
	"Account": reflect.TypeFor[api.Account](), "PutAccountRequest": reflect.TypeFor[api.PutAccountRequest](),
	"PayRequest": reflect.TypeFor[api.PayRequest](), "Payment": reflect.TypeFor[api.Payment](),
	"PaymentList": reflect.TypeFor[api.PaymentList](), "RepayRequest": reflect.TypeFor[api.RepayRequest](),
	"Allocation": reflect.TypeFor[api.Allocation](), "Repayment": reflect.TypeFor[api.Repayment](),
	"Bill": reflect.TypeFor[api.Bill](), "BillList": reflect.TypeFor[api.BillList](),
	"Notification": reflect.TypeFor[api.Notification](), "NotificationList": reflect.TypeFor[api.NotificationList](),
	"Member": reflect.TypeFor[api.Member](), "Status": reflect.TypeFor[api.Status](),
	"JoinRequest": reflect.TypeFor[api.JoinRequest](), "BatchPayment": reflect.TypeFor[api.BatchPayment](),
	"BatchRequest": reflect.TypeFor[api.BatchRequest](), "BatchAccount": reflect.TypeFor[api.BatchAccount](),
	"AccountBatchRequest": reflect.TypeFor[api.AccountBatchRequest](), "BatchResult": reflect.TypeFor[api.BatchResult](),
	"BatchResponse": reflect.TypeFor[api.BatchResponse](), "ShardRoute": reflect.TypeFor[api.ShardRoute](),
	"ZoneRoute": reflect.TypeFor[api.ZoneRoute](), "RouteTable": reflect.TypeFor[api.RouteTable](),
	"Operation": reflect.TypeFor[api.Operation](), "OperationList": reflect.TypeFor[api.OperationList](),
	"NodeDrain": reflect.TypeFor[api.NodeDrain](), "NodeRemoval": reflect.TypeFor[api.NodeRemoval](), "LeaderMove": reflect.TypeFor[api.LeaderMove](),
	"ReplicaState": reflect.TypeFor[api.ReplicaState](), "Decision": reflect.TypeFor[api.Decision](),
	"VoidedPayment": reflect.TypeFor[api.VoidedPayment](), "ContradictedKey": reflect.TypeFor[api.ContradictedKey](),
	"ReconcileReport": reflect.TypeFor[api.ReconcileReport](), "ZoneFailover": reflect.TypeFor[api.ZoneFailover](),
	"ZoneStatus": reflect.TypeFor[api.ZoneStatus](), "ZoneList": reflect.TypeFor[api.ZoneList](),
	"MemberInfo": reflect.TypeFor[api.MemberInfo](), "MemberList": reflect.TypeFor[api.MemberList](),
	"ConfigItem": reflect.TypeFor[api.ConfigItem](), "ConfigList": reflect.TypeFor[api.ConfigList](),
	"SetConfigRequest": reflect.TypeFor[api.SetConfigRequest](), "CreateTokenRequest": reflect.TypeFor[api.CreateTokenRequest](),
	"Token": reflect.TypeFor[api.Token](), "RunRequest": reflect.TypeFor[api.RunRequest](),
	"Run": reflect.TypeFor[api.Run](), "RunList": reflect.TypeFor[api.RunList](),
	"NodeInfo": reflect.TypeFor[fsm.NodeInfo](), "InitRequest": reflect.TypeFor[cluster.InitRequest](),
	"MoveShardRequest": reflect.TypeFor[moveShardRequest](),
	"ZoneLag":          reflect.TypeFor[console.ZoneLag](), "Point": reflect.TypeFor[console.Point](),
	"Series": reflect.TypeFor[console.Series](),
}

// requestTypes are the bodies the handlers decode with api.Decode, which
// refuses unknown fields, nested objects included.
var requestTypes = []string{
	"PutAccountRequest", "PayRequest", "RepayRequest", "JoinRequest", "BatchRequest", "BatchPayment",
	"AccountBatchRequest", "BatchAccount", "SetConfigRequest", "CreateTokenRequest", "RunRequest",
	"InitRequest", "NodeInfo", "MoveShardRequest",
}

// TestOpenAPISchemasMatchTypes: each component schema has exactly the JSON
// fields of its Go type, with a matching JSON type; a reply's schema
// requires every field Go always writes; a request's schema refuses
// unknown fields (additionalProperties: false) as the decoder does.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	schemas := rawOpenAPI(t)["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range schemas {
		if _, ok := schemaTypes[name]; !ok && !slices.Contains([]string{"Joined", "Revoked", "Health", "Internal", "ErrorCode"}, name) {
			t.Errorf("schema %s is tied to no Go type in schemaTypes", name)
		}
	}
	for name, typ := range schemaTypes {
		s, ok := schemas[name].(map[string]any)
		if !ok {
			t.Errorf("no schema %s for %v", name, typ)
			continue
		}
		props, _ := s["properties"].(map[string]any)
		request := slices.Contains(requestTypes, name)
		var required []string
		for _, r := range asSlice(s["required"]) {
			required = append(required, r.(string))
		}
		var fields, always []string
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			fields = append(fields, tag)
			omit := strings.Contains(opts, "omitempty")
			if !omit {
				always = append(always, tag)
			}
			p, ok := props[tag].(map[string]any)
			if !ok {
				t.Errorf("%s: field %q of %v is not in the schema", name, tag, typ)
				continue
			}
			checkKind(t, schemas, name+"."+tag, f.Type, omit || request, p)
		}
		for p := range props {
			if !slices.Contains(fields, p) {
				t.Errorf("%s: property %q is no field of %v", name, p, typ)
			}
		}
		closed := s["additionalProperties"] == false
		if request {
			if !closed {
				t.Errorf("%s is decoded with unknown fields refused: the schema must say additionalProperties: false", name)
			}
			// The decoder does refuse them, at any depth.
			v := reflect.New(typ).Interface()
			if err := api.DecodeBytes([]byte(`{"no_such_field":1}`), v); err == nil {
				t.Errorf("%s: the decoder took an unknown field", name)
			}
			for _, r := range required {
				if !slices.Contains(fields, r) {
					t.Errorf("%s requires %q, no field of %v", name, r, typ)
				}
			}
			continue
		}
		if closed {
			t.Errorf("%s is a reply: it must not refuse fields a newer node adds", name)
		}
		sort.Strings(always)
		sort.Strings(required)
		if !slices.Equal(always, required) {
			t.Errorf("%s: required %v, but Go always writes %v", name, required, always)
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// checkKind compares a Go field's type with its property's schema.
// nonNull says Go never writes the field as null: it is omitted when
// empty, or it is only ever decoded.
func checkKind(t *testing.T, schemas map[string]any, where string, typ reflect.Type, nonNull bool, p map[string]any) {
	t.Helper()
	if ref, ok := p["$ref"].(string); ok {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		target, _ := schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		if target == nil {
			t.Errorf("%s: $ref %s names no schema", where, ref)
		} else if target["type"] != "object" {
			checkKind(t, schemas, where, typ, nonNull, target)
		} else if typ.Kind() != reflect.Struct {
			t.Errorf("%s: an object $ref for a %v", where, typ)
		}
		return
	}
	var types []string
	switch v := p["type"].(type) {
	case string:
		types = []string{v}
	case []any:
		for _, x := range v {
			types = append(types, x.(string))
		}
	}
	want := ""
	nullable := false
	switch typ.Kind() {
	case reflect.String:
		want = "string"
	case reflect.Bool:
		want = "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		want = "integer"
	case reflect.Float32, reflect.Float64:
		want = "number"
	case reflect.Slice:
		// Go writes a nil slice as null.
		want, nullable = "array", !nonNull
	case reflect.Map:
		want, nullable = "object", !nonNull
	case reflect.Pointer:
		checkKind(t, schemas, where, typ.Elem(), nonNull, p)
		if !nonNull && !slices.Contains(types, "null") {
			t.Errorf("%s: Go writes a nil pointer as null; the schema's type %v does not allow it", where, types)
		}
		return
	default:
		t.Errorf("%s: no schema kind for %v", where, typ)
		return
	}
	if !slices.Contains(types, want) {
		t.Errorf("%s: schema type %v, Go type %v wants %s", where, types, typ, want)
	}
	if nullable && !slices.Contains(types, "null") {
		t.Errorf("%s: Go writes a nil %v as null; the schema's type %v does not allow it", where, typ.Kind(), types)
	}
	if strings.HasPrefix(typ.Kind().String(), "uint") {
		if m, ok := p["minimum"].(float64); !ok || m < 0 {
			t.Errorf("%s: an unsigned field needs a minimum of 0 or more", where)
		}
	}
}

// TestOpenAPIErrorCodes: ErrorCode lists every api.Code constant, each with
// the HTTP status Code.HTTPStatus gives it, as README's error table does,
// and every error status an operation lists is one some code has.
func TestOpenAPIErrorCodes(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../internal/api/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, v := range vs.Values {
				s, _ := strconv.Unquote(v.(*ast.BasicLit).Value)
				codes = append(codes, s)
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found %d codes in internal/api/errors.go", len(codes))
	}
	ec := rawOpenAPI(t)["components"].(map[string]any)["schemas"].(map[string]any)["ErrorCode"].(map[string]any)
	var enum []string
	for _, c := range asSlice(ec["enum"]) {
		enum = append(enum, c.(string))
	}
	statuses := ec["x-rzone-http-status"].(map[string]any)
	byStatus := map[int]bool{}
	for _, c := range codes {
		if !slices.Contains(enum, c) {
			t.Errorf("code %s is not in ErrorCode", c)
		}
		want := api.Code(c).HTTPStatus()
		byStatus[want] = true
		if got, _ := statuses[c].(float64); int(got) != want {
			t.Errorf("code %s: x-rzone-http-status %v, HTTPStatus %d", c, statuses[c], want)
		}
	}
	for _, c := range enum {
		if !slices.Contains(codes, c) {
			t.Errorf("ErrorCode lists %s, no api.Code", c)
		}
	}
	// README's table of error codes agrees.
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, errorsTable, ok := strings.Cut(string(data), "\n### Errors\n")
	if !ok {
		t.Fatal("README.md has no ### Errors section")
	}
	errorsTable, _, _ = strings.Cut(errorsTable, "\n#")
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([0-9]{3}) \\|")
	documented := 0
	for _, m := range row.FindAllStringSubmatch(errorsTable, -1) {
		documented++
		if got, _ := statuses[m[1]].(float64); strconv.Itoa(int(got)) != m[2] {
			t.Errorf("README's error %s is %s; the document says %v", m[1], m[2], statuses[m[1]])
		}
	}
	if documented != len(codes) {
		t.Errorf("README's error table has %d codes, api has %d", documented, len(codes))
	}
	doc := loadOpenAPI(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for k := range op.Responses.Map() {
				s, err := strconv.Atoi(k)
				if err == nil && s >= 400 && !byStatus[s] {
					t.Errorf("%s %s lists %d, a status no error code has", method, path, s)
				}
			}
		}
	}
}

// readmeSection returns the lines of README.md's section titled title, up
// to the next section of the same level.
func readmeSection(t *testing.T, title string) []string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") || (in && strings.HasPrefix(line, "#")) {
			if in {
				break
			}
			in = line == "## "+title
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatalf("README.md has no section %q", title)
	}
	return out
}

// tableCells splits a Markdown table row at the bars outside code spans.
func tableCells(row string) []string {
	var cells []string
	var cur strings.Builder
	code := false
	for _, r := range strings.TrimSpace(row) {
		switch {
		case r == '`':
			code = !code
			cur.WriteRune(r)
		case r == '|' && !code:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	cells = append(cells, strings.TrimSpace(cur.String()))
	return cells[1 : len(cells)-1] // the row starts and ends with a bar
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

// TestOpenAPIReadmeAPITable checks every row of README's API table against
// the document: each method and path (and query parameter) is an
// operation; the body example is that operation's request (a JSON example
// validates against its schema; a list of field names names its
// properties, with every required one and "?" only on optional ones); the
// statuses of the success column are responses of the operation, and the
// fields it shows are properties of the reply.
func TestOpenAPIReadmeAPITable(t *testing.T) {
	doc := loadOpenAPI(t)
	rows := 0
	for _, line := range readmeSection(t, "HTTP API v1") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := tableCells(line)
		if len(cells) != 3 {
			t.Errorf("README row %q: want 3 cells, got %d", line, len(cells))
			continue
		}
		rows++
		endpoints := codeSpan.FindAllStringSubmatch(cells[0], -1)
		// A row of k endpoints may give their replies as k parts
		// separated by " / ".
		success := strings.Split(cells[2], " / ")
		if len(success) != len(endpoints) {
			success = slices.Repeat([]string{cells[2]}, len(endpoints))
		}
		for i, m := range endpoints {
			endpoint, success := m[1], success[i]
			t.Run(endpoint, func(t *testing.T) {
				method, target, _ := strings.Cut(endpoint, " ")
				path, query, _ := strings.Cut(target, "?")
				op := findOperation(t, doc, method, path)
				if op == nil {
					return
				}
				if query != "" {
					q, err := url.ParseQuery(query)
					if err != nil {
						t.Fatal(err)
					}
					for name := range q {
						if op.Parameters.GetByInAndName("query", name) == nil {
							t.Errorf("README's query parameter %q is not a parameter of %s %s", name, method, path)
						}
					}
				}
				checkReadmeBody(t, op, cells[1])
				checkReadmeSuccess(t, op, success)
			})
		}
	}
	if rows < 20 {
		t.Fatalf("found %d rows in README's API table", rows)
	}
}

// findOperation returns the document's operation for method and path
// (written with the document's {param} names), failing t if it is not
// there.
func findOperation(t *testing.T, doc *openapi3.T, method, path string) *openapi3.Operation {
	t.Helper()
	item := doc.Paths.Value(path)
	if item == nil {
		t.Errorf("%s is no path of the OpenAPI document", path)
		return nil
	}
	op := item.GetOperation(method)
	if op == nil {
		t.Errorf("%s %s is no operation of the OpenAPI document", method, path)
	}
	return op
}

func checkReadmeBody(t *testing.T, op *openapi3.Operation, cell string) {
	t.Helper()
	spans := codeSpan.FindAllStringSubmatch(cell, -1)
	if op.RequestBody == nil {
		if len(spans) > 0 {
			t.Errorf("README shows a body %q; the operation takes none", cell)
		}
		return
	}
	if len(spans) == 0 {
		t.Errorf("the operation takes a body; README shows none")
		return
	}
	schema := op.RequestBody.Value.Content.Get("application/json").Schema.Value
	checkExample(t, "request", schema, spans[0][1], true)
}

var statusCode = regexp.MustCompile(`\b([2-5][0-9][0-9])\b`)

func checkReadmeSuccess(t *testing.T, op *openapi3.Operation, cell string) {
	t.Helper()
	var success *openapi3.Schema
	if r := op.Responses.Status(http.StatusOK); r != nil && r.Value.Content.Get("application/json") != nil && !statusCode.MatchString(cell) {
		success = r.Value.Content.Get("application/json").Schema.Value
	}
	for _, m := range statusCode.FindAllStringSubmatch(cell, -1) {
		s, _ := strconv.Atoi(m[1])
		r := op.Responses.Status(s)
		if r == nil {
			t.Errorf("README says %d; the operation has no such response", s)
			continue
		}
		if mt := r.Value.Content.Get("application/json"); s < 300 && success == nil && mt != nil {
			success = mt.Schema.Value
		}
	}
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		if !strings.HasPrefix(m[1], "{") {
			continue
		}
		if success == nil {
			t.Errorf("README shows %s for a reply without a JSON body", m[1])
			continue
		}
		checkExample(t, "reply", success, m[1], false)
	}
}

// checkExample holds one of README's examples to schema: a JSON value is
// validated by kin-openapi (JSON Schema 2020-12); otherwise it is a list of
// field names in JSON's shape, such as {"key","amount","cycle"?} or
// {"results":[{"status","payment"|"error"}, ...]}, whose names must be
// properties (and, for a request, name every required one).
func checkExample(t *testing.T, what string, schema *openapi3.Schema, example string, request bool) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(example), &v); err == nil {
		if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("README's %s %s does not validate: %v", what, example, err)
		}
		return
	}
	p := &pseudo{s: example}
	node, err := p.value()
	if err == nil && strings.TrimSpace(p.s[p.i:]) != "" {
		err = fmt.Errorf("trailing %q", p.s[p.i:])
	}
	if err != nil {
		t.Errorf("README's %s %s: %v", what, example, err)
		return
	}
	for _, e := range node.check(schema, request, "") {
		t.Errorf("README's %s %s: %s", what, example, e)
	}
}

// pseudo parses README's field lists: JSON in which an object member may
// be a name alone (or names joined by |), a name may end in ? (optional),
// and "..." stands for more of the same.
type pseudo struct {
	s string
	i int
}

type pnode struct {
	kind    string // object, array, string, number, more
	members []pmember
	items   []*pnode
}

type pmember struct {
	names    []string
	optional bool
	value    *pnode
}

func (p *pseudo) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *pseudo) peek() byte {
	p.skip()
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

func (p *pseudo) str() (string, error) {
	if p.peek() != '"' {
		return "", fmt.Errorf("want a string at %d", p.i)
	}
	end := strings.IndexByte(p.s[p.i+1:], '"')
	if end < 0 {
		return "", fmt.Errorf("unterminated string at %d", p.i)
	}
	s := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return s, nil
}

func (p *pseudo) value() (*pnode, error) {
	switch c := p.peek(); {
	case c == '{':
		p.i++
		n := &pnode{kind: "object"}
		for p.peek() != '}' {
			if strings.HasPrefix(p.s[p.i:], "...") {
				p.i += 3
			} else {
				var m pmember
				for {
					name, err := p.str()
					if err != nil {
						return nil, err
					}
					m.names = append(m.names, name)
					if p.peek() != '|' {
						break
					}
					p.i++
				}
				if p.peek() == '?' {
					m.optional = true
					p.i++
				}
				if p.peek() == ':' {
					p.i++
					v, err := p.value()
					if err != nil {
						return nil, err
					}
					m.value = v
				}
				n.members = append(n.members, m)
			}
			if p.peek() == ',' {
				p.i++
			} else if p.peek() != '}' {
				return nil, fmt.Errorf("want , or } at %d", p.i)
			}
		}
		p.i++
		return n, nil
	case c == '[':
		p.i++
		n := &pnode{kind: "array"}
		for p.peek() != ']' {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
			if p.peek() == ',' {
				p.i++
			} else if p.peek() != ']' {
				return nil, fmt.Errorf("want , or ] at %d", p.i)
			}
		}
		p.i++
		return n, nil
	case c == '"':
		if _, err := p.str(); err != nil {
			return nil, err
		}
		return &pnode{kind: "string"}, nil
	case strings.HasPrefix(p.s[p.i:], "..."):
		p.i += 3
		return &pnode{kind: "more"}, nil
	case c >= '0' && c <= '9':
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		return &pnode{kind: "number"}, nil
	}
	return nil, fmt.Errorf("unexpected %q at %d", p.s[p.i:], p.i)
}

// check lists where n departs from schema.
func (n *pnode) check(schema *openapi3.Schema, request bool, at string) []string {
	var errs []string
	types := schema.Type.Slice()
	switch n.kind {
	case "more":
		return nil
	case "object":
		if !slices.Contains(types, "object") {
			return []string{fmt.Sprintf("%s: an object where the schema has %v", at, types)}
		}
		seen := map[string]bool{}
		for _, m := range n.members {
			for _, name := range m.names {
				seen[name] = true
				prop := schema.Properties[name]
				if prop == nil {
					errs = append(errs, fmt.Sprintf("%s%s is not a property", at, name))
					continue
				}
				if m.optional && slices.Contains(schema.Required, name) {
					errs = append(errs, fmt.Sprintf("%s%s is marked optional; the schema requires it", at, name))
				}
				if m.value != nil {
					errs = append(errs, m.value.check(prop.Value, request, at+name+".")...)
				}
			}
		}
		if request {
			for _, r := range schema.Required {
				if !seen[r] {
					errs = append(errs, fmt.Sprintf("%s%s is required and missing", at, r))
				}
			}
		}
	case "array":
		if !slices.Contains(types, "array") {
			return []string{fmt.Sprintf("%s: an array where the schema has %v", at, types)}
		}
		for _, it := range n.items {
			errs = append(errs, it.check(schema.Items.Value, request, at+"[].")...)
		}
	case "string":
		if !slices.Contains(types, "string") {
			errs = append(errs, fmt.Sprintf("%s: a string where the schema has %v", at, types))
		}
	case "number":
		if !slices.Contains(types, "integer") && !slices.Contains(types, "number") {
			errs = append(errs, fmt.Sprintf("%s: a number where the schema has %v", at, types))
		}
	}
	return errs
}

var (
	curlURL    = regexp.MustCompile(`'?https?://[^/\s']+(/[^\s']*)'?`)
	curlMethod = regexp.MustCompile(`-X\s+([A-Z]+)`)
	curlBody   = regexp.MustCompile(`-d\s+'([^']*)'`)
	curlStatus = regexp.MustCompile(`#\s+([2-5][0-9][0-9])\b`)
)

// TestOpenAPIReadmeCurlExamples validates the curl commands of README's
// "Trying it" as requests of the document (path, query and body, with
// kin-openapi's request validator), and the status each one's comment
// promises as a response of its operation.
func TestOpenAPIReadmeCurlExamples(t *testing.T) {
	doc := loadOpenAPI(t)
	n := 0
	for _, line := range readmeSection(t, "Trying it") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		u := curlURL.FindStringSubmatch(line)
		if u == nil {
			continue // `curl 127.0.0.1:7070/…` prose
		}
		n++
		method := http.MethodGet
		if m := curlMethod.FindStringSubmatch(line); m != nil {
			method = m[1]
		}
		var body io.Reader = http.NoBody
		if m := curlBody.FindStringSubmatch(line); m != nil {
			body = strings.NewReader(m[1])
		}
		req, err := http.NewRequest(method, "http://127.0.0.1:7070"+u[1], body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		t.Run(method+" "+u[1], func(t *testing.T) {
			route, params := matchRoute(doc, method, req.URL.Path)
			if route == nil {
				t.Fatalf("README's %s %s matches no operation of the document", method, req.URL.Path)
			}
			err := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			})
			if err != nil {
				t.Errorf("README's %s does not validate: %v", line, err)
			}
			if m := curlStatus.FindStringSubmatch(line); m != nil {
				s, _ := strconv.Atoi(m[1])
				if route.Operation.Responses.Status(s) == nil {
					t.Errorf("README promises %d; %s %s has no such response", s, method, route.Path)
				}
			}
		})
	}
	if n < 5 {
		t.Fatalf("found %d curl examples in README's Trying it", n)
	}
}

// matchRoute finds the document's operation for method and a concrete
// path, with its path parameters; a literal segment beats a parameter.
func matchRoute(doc *openapi3.T, method, path string) (*routers.Route, map[string]string) {
	var best *routers.Route
	var bestParams map[string]string
	bestLiterals := -1
	segs := strings.Split(path, "/")
	for tmpl, item := range doc.Paths.Map() {
		op := item.GetOperation(method)
		tsegs := strings.Split(tmpl, "/")
		if op == nil || len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		literals := 0
		for i, ts := range tsegs {
			if strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") && segs[i] != "" {
				params[ts[1:len(ts)-1]] = segs[i]
			} else if ts == segs[i] {
				literals++
			} else {
				params = nil
				break
			}
		}
		if params != nil && literals > bestLiterals {
			best = &routers.Route{Spec: doc, Path: tmpl, PathItem: item, Method: method, Operation: op}
			bestParams, bestLiterals = params, literals
		}
	}
	return best, bestParams
}
