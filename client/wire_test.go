package client

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"

	"github.com/rzonedb/rzone/internal/api"
)

// wirePairs pairs every client type that travels as JSON with the server's
// wire type of the same meaning.
var wirePairs = []struct{ client, api any }{
	{Account{}, api.Account{}},
	{Payment{}, api.Payment{}},
	{PaymentList{}, api.PaymentList{}},
	{PayRequest{}, api.PayRequest{}},
	{RepayRequest{}, api.RepayRequest{}},
	{Repayment{}, api.Repayment{}},
	{Allocation{}, api.Allocation{}},
	{Bill{}, api.Bill{}},
	{Status{}, api.Status{}},
	{Member{}, api.Member{}},
	{Notification{}, api.Notification{}},
	{NotificationList{}, api.NotificationList{}},
	{RouteTable{}, api.RouteTable{}},
	{ShardRoute{}, api.ShardRoute{}},
	{ZoneRoute{}, api.ZoneRoute{}},
	{ZoneStatus{}, api.ZoneStatus{}},
	{ZoneFailover{}, api.ZoneFailover{}},
	{ReconcileReport{}, api.ReconcileReport{}},
	{VoidedPayment{}, api.VoidedPayment{}},
	{ContradictedKey{}, api.ContradictedKey{}},
	{Decision{}, api.Decision{}},
	{ZoneList{}, api.ZoneList{}},
	{ReplicaState{}, api.ReplicaState{}},
	{MemberList{}, api.MemberList{}},
	{MemberInfo{}, api.MemberInfo{}},
	{ConfigItem{}, api.ConfigItem{}},
	{NodeDrain{}, api.NodeDrain{}},
	{NodeRemoval{}, api.NodeRemoval{}},
	{LeaderMove{}, api.LeaderMove{}},
	{Operation{}, api.Operation{}},
	{OperationList{}, api.OperationList{}},
	{Run{}, api.Run{}},
	{RunList{}, api.RunList{}},
	{Token{}, api.Token{}},
	{BatchPayment{}, api.BatchPayment{}},
	{BatchAccount{}, api.BatchAccount{}},
	{BatchResult{}, api.BatchResult{}},
	{ResultError{}, api.Error{}},
	{errorBody{}, api.ErrorBody{}},
}

// TestWireTypesMatch fails when a client type and its wire type disagree on
// a JSON field (its name, omitempty or kind), at any depth: a field added to
// one and not the other.
func TestWireTypesMatch(t *testing.T) {
	for _, p := range wirePairs {
		ct, at := reflect.TypeOf(p.client), reflect.TypeOf(p.api)
		for _, d := range diffJSON(ct, at, ct.Name()) {
			t.Errorf("client.%s and api.%s differ: %s", ct.Name(), at.Name(), d)
		}
	}
}

type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{name: name, omitempty: strings.Contains(","+opts+",", ",omitempty,"), typ: f.Type}
	}
	return out
}

// diffJSON lists how a and b differ as JSON, recursing into structs,
// pointers, slices and maps; path names the place.
func diffJSON(a, b reflect.Type, path string) []string {
	if a.Kind() != b.Kind() {
		return []string{path + ": kind " + a.Kind().String() + " vs " + b.Kind().String()}
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return diffJSON(a.Elem(), b.Elem(), path+"[]")
	case reflect.Map:
		return append(diffJSON(a.Key(), b.Key(), path+"{key}"), diffJSON(a.Elem(), b.Elem(), path+"{}")...)
	case reflect.Struct:
		fa, fb := jsonFields(a), jsonFields(b)
		var out []string
		for name, x := range fa {
			y, ok := fb[name]
			if !ok {
				out = append(out, path+"."+name+": only in the client type")
				continue
			}
			if x.omitempty != y.omitempty {
				out = append(out, path+"."+name+": omitempty differs")
			}
			out = append(out, diffJSON(x.typ, y.typ, path+"."+name)...)
		}
		for name := range fb {
			if _, ok := fa[name]; !ok {
				out = append(out, path+"."+name+": only in the wire type")
			}
		}
		return out
	}
	return nil
}

// TestCodesMatch checks that the client declares every error code of the
// API, with the same value and the same retryability.
func TestCodesMatch(t *testing.T) {
	codes := map[string]Code{
		"CodeInvalidArgument":     CodeInvalidArgument,
		"CodeNotFound":            CodeNotFound,
		"CodeIdempotencyConflict": CodeIdempotencyConflict,
		"CodeInsufficientCredit":  CodeInsufficientCredit,
		"CodeOverpayment":         CodeOverpayment,
		"CodePayloadTooLarge":     CodePayloadTooLarge,
		"CodeUnavailable":         CodeUnavailable,
		"CodeUnknownOutcome":      CodeUnknownOutcome,
		"CodeLeaseExpired":        CodeLeaseExpired,
		"CodeWrongZone":           CodeWrongZone,
		"CodeVersionConflict":     CodeVersionConflict,
		"CodeAccountIsolated":     CodeAccountIsolated,
		"CodeFailover":            CodeFailover,
		"CodeInternal":            CodeInternal,
		"CodeUnauthenticated":     CodeUnauthenticated,
		"CodePermissionDenied":    CodePermissionDenied,
		"CodeMethodNotAllowed":    CodeMethodNotAllowed,
		"CodeClusterExists":       CodeClusterExists,
		"CodeLeaseValid":          CodeLeaseValid,
	}
	// The API's codes, read from its source: the constants of type Code.
	f, err := parser.ParseFile(token.NewFileSet(), "../internal/api/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	apiCodes := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for i, n := range v.Names {
				apiCodes[n.Name] = strings.Trim(v.Values[i].(*ast.BasicLit).Value, `"`)
			}
		}
	}
	if len(apiCodes) == 0 {
		t.Fatal("no codes found in internal/api/errors.go")
	}
	for name, val := range apiCodes {
		c, ok := codes[name]
		switch {
		case !ok:
			t.Errorf("api.%s (%q) has no client constant", name, val)
		case string(c) != val:
			t.Errorf("client.%s = %q, api.%s = %q", name, c, name, val)
		case c.Retryable() != api.Code(val).Retryable():
			t.Errorf("%s: client and api disagree on Retryable", name)
		}
	}
	for name := range codes {
		if _, ok := apiCodes[name]; !ok {
			t.Errorf("client.%s is not an API code", name)
		}
	}
}
