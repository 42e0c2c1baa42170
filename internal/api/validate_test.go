package api

import (
	"errors"
	"strings"
	"testing"
)

func code(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestDecodePay(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Code // "" = valid
	}{
		{"valid", `{"key":"k1","amount":1999,"merchant":"books"}`, ""},
		{"no merchant", `{"key":"k1","amount":1}`, ""},
		{"negative amount", `{"key":"k1","amount":-5}`, CodeInvalidArgument},
		{"zero amount", `{"key":"k1","amount":0}`, CodeInvalidArgument},
		{"over max", `{"key":"k1","amount":1000000000000001}`, CodeInvalidArgument},
		{"overflow", `{"key":"k1","amount":9223372036854775808}`, CodeInvalidArgument},
		{"float amount", `{"key":"k1","amount":19.99}`, CodeInvalidArgument},
		{"string amount", `{"key":"k1","amount":"5"}`, CodeInvalidArgument},
		{"unknown field", `{"key":"k1","amount":5,"currency":"EUR"}`, CodeInvalidArgument},
		{"empty key", `{"key":"","amount":5}`, CodeInvalidArgument},
		{"long key", `{"key":"` + strings.Repeat("k", 129) + `","amount":5}`, CodeInvalidArgument},
		{"space in key", `{"key":"a b","amount":5}`, CodeInvalidArgument},
		{"control in merchant", `{"key":"k","amount":5,"merchant":"a\u0001"}`, CodeInvalidArgument},
		{"trailing data", `{"key":"k","amount":5}{}`, CodeInvalidArgument},
		{"empty body", ``, CodeInvalidArgument},
		{"array", `[1]`, CodeInvalidArgument},
		{"too large", `{"key":"k","amount":5,"merchant":"` + strings.Repeat("m", MaxBodyBytes) + `"}`, CodePayloadTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var req PayRequest
			err := Decode(strings.NewReader(tc.body), &req)
			if err == nil {
				err = req.Validate()
			}
			if got := code(err); got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestValidateRepayAndAccount(t *testing.T) {
	if err := (&RepayRequest{Key: "r", Amount: 1, Cycle: "202613"}).Validate(); code(err) != CodeInvalidArgument {
		t.Fatalf("month 13: %v", err)
	}
	if err := (&RepayRequest{Key: "r", Amount: 1, Cycle: "202611"}).Validate(); err != nil {
		t.Fatalf("valid repay: %v", err)
	}
	if err := (&PutAccountRequest{CreditLimit: -1}).Validate(); code(err) != CodeInvalidArgument {
		t.Fatalf("negative limit: %v", err)
	}
	if err := (&PutAccountRequest{CreditLimit: 0}).Validate(); err != nil {
		t.Fatalf("zero limit: %v", err)
	}
	if _, err := ParseUser("-1"); code(err) != CodeInvalidArgument {
		t.Fatalf("negative user: %v", err)
	}
	if _, err := ParseUser("18446744073709551616"); code(err) != CodeInvalidArgument {
		t.Fatalf("user overflow: %v", err)
	}
}

// FuzzDecodeRequests feeds arbitrary bodies to the API's decoders: they
// must never panic, and whatever passes validation must hold only values in
// the documented ranges.
func FuzzDecodeRequests(f *testing.F) {
	for _, s := range []string{
		`{"key":"k1","amount":1999,"merchant":"books"}`,
		`{"key":"r1","amount":5,"cycle":"202611"}`,
		`{"credit_limit":500000}`,
		`{"key":"k1","amount":-1}`,
		`{"key":"k1","amount":1e3}`,
		`{"amount":1,"amount":2,"key":"x"}`,
		`{"node_id":"n2","raft_addr":"127.0.0.1:7001","http_addr":"127.0.0.1:7071"}`,
		`{"payments":[{"user":1,"key":"a","amount":5,"merchant":"m"},{"user":2,"key":"b","amount":-1}]}`,
		`{"accounts":[{"user":1,"credit_limit":5},{"user":2,"credit_limit":-1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p PayRequest
		if DecodeBytes(body, &p) == nil && p.Validate() == nil {
			if p.Amount <= 0 || p.Amount > MaxAmount || len(p.Key) == 0 || len(p.Key) > MaxKeyLen || len(p.Merchant) > MaxMerchantLen {
				t.Fatalf("invalid payment passed validation: %+v", p)
			}
		}
		var r RepayRequest
		if DecodeBytes(body, &r) == nil && r.Validate() == nil {
			if r.Amount <= 0 || r.Amount > MaxAmount {
				t.Fatalf("invalid repayment passed validation: %+v", r)
			}
			if r.Cycle != "" {
				if c, err := ParseCycle(r.Cycle); err != nil || FormatCycle(c) != r.Cycle {
					t.Fatalf("cycle %q passed validation but does not round-trip", r.Cycle)
				}
			}
		}
		var a PutAccountRequest
		if DecodeBytes(body, &a) == nil && a.Validate() == nil && (a.CreditLimit < 0 || a.CreditLimit > MaxAmount) {
			t.Fatalf("invalid limit passed validation: %+v", a)
		}
		var j JoinRequest
		_ = DecodeBytes(body, &j)
		var b BatchRequest
		if DecodeBytes(body, &b) == nil && b.Validate() == nil && (len(b.Payments) == 0 || len(b.Payments) > MaxBatch) {
			t.Fatalf("batch of %d passed validation", len(b.Payments))
		}
		var ab AccountBatchRequest
		if DecodeBytes(body, &ab) == nil && ab.Validate() == nil && (len(ab.Accounts) == 0 || len(ab.Accounts) > MaxBatch) {
			t.Fatalf("account batch of %d passed validation", len(ab.Accounts))
		}
	})
}

// TestParsePage: after is "" or a valid key; limit defaults to 100 and is
// 1 to MaxPageSize.
func TestParsePage(t *testing.T) {
	for _, tc := range []struct {
		after, limit string
		wantLimit    int
		ok           bool
	}{
		{"", "", 100, true},
		{"k1", "7", 7, true},
		{"", "1000", 1000, true},
		{"", "0", 0, false},
		{"", "1001", 0, false},
		{"", "x", 0, false},
		{"bad key", "", 0, false},
	} {
		after, limit, err := ParsePage(tc.after, tc.limit)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePage(%q, %q): %v", tc.after, tc.limit, err)
			continue
		}
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Code != CodeInvalidArgument {
				t.Errorf("ParsePage(%q, %q): error %v, want invalid_argument", tc.after, tc.limit, err)
			}
			continue
		}
		if after != tc.after || limit != tc.wantLimit {
			t.Errorf("ParsePage(%q, %q) = %q, %d", tc.after, tc.limit, after, limit)
		}
	}
	if CreatedStatus(false) != 201 || CreatedStatus(true) != 200 {
		t.Error("CreatedStatus")
	}
}
