package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits at the API edge. README.md documents them.
const (
	// MaxAmount is the largest amount, credit limit or repayment accepted:
	// 10^15 minor units. Sums of amounts that pass the credit check stay far
	// below int64's range.
	MaxAmount int64 = 1_000_000_000_000_000
	// MaxKeyLen is the longest idempotency key, in bytes.
	MaxKeyLen = 128
	// MaxMerchantLen is the longest merchant name, in bytes.
	MaxMerchantLen = 128
	// MaxBodyBytes is the largest request body the server reads.
	MaxBodyBytes = 64 << 10
	// MaxPageSize is the largest page of a list.
	MaxPageSize = 1000
)

// Decode reads one JSON object from r into v, refusing unknown fields,
// trailing data and bodies over MaxBodyBytes. Its errors are *Error with
// CodeInvalidArgument or CodePayloadTooLarge.
func Decode(r io.Reader, v any) error {
	data, e := readAll(r)
	if e != nil {
		return e
	}
	return DecodeBytes(data, v)
}

// readAll reads a body, refusing one over MaxBodyBytes.
func readAll(r io.Reader) ([]byte, *Error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "read body: %v", err)
	}
	if len(data) > MaxBodyBytes {
		return nil, Errorf(CodePayloadTooLarge, "body exceeds %d bytes", MaxBodyBytes)
	}
	return data, nil
}

// DecodeBytes is Decode over a byte slice already in memory.
func DecodeBytes(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeInvalidArgument, "invalid JSON body: %s", jsonErr(err))
	}
	if dec.More() {
		return Errorf(CodeInvalidArgument, "invalid JSON body: data after the object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(CodeInvalidArgument, "invalid JSON body: data after the object")
	}
	return nil
}

func jsonErr(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return fmt.Sprintf("field %q must be %s", ute.Field, ute.Type)
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return err.Error()
}

// ParseUser parses a user id from a path segment.
func ParseUser(s string) (uint64, error) {
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, Errorf(CodeInvalidArgument, "user %q is not an unsigned 64-bit integer", s)
	}
	return u, nil
}

// ValidateKey checks an idempotency key: 1 to MaxKeyLen printable ASCII bytes.
func ValidateKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return Errorf(CodeInvalidArgument, "key must be 1 to %d bytes, got %d", MaxKeyLen, len(key))
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return Errorf(CodeInvalidArgument, "key byte %d (0x%02x) is not printable ASCII", i, c)
		}
	}
	return nil
}

// ValidateConfigKey checks a key of the config store: 1 to 128 bytes of
// letters, digits and . _ - /.
func ValidateConfigKey(k string) error {
	if len(k) == 0 || len(k) > 128 || strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") != "" {
		return Errorf(CodeInvalidArgument, "config key %q: 1 to 128 of letters, digits and . _ - /", k)
	}
	return nil
}

// ValidateAmount checks that an amount is in 1..MaxAmount minor units.
func ValidateAmount(field string, v int64) error {
	if v <= 0 || v > MaxAmount {
		return Errorf(CodeInvalidArgument, "%s must be between 1 and %d minor units, got %d", field, MaxAmount, v)
	}
	return nil
}

// ValidateCycle checks a billing cycle "YYYYMM".
func ValidateCycle(cycle string) error {
	if _, err := ParseCycle(cycle); err != nil {
		return err
	}
	return nil
}

// ParsePage reads a list's page query: after, the key the page starts
// after ("" for the first page), and limit, 1 to MaxPageSize ("" for 100).
// Its errors are *Error with CodeInvalidArgument.
func ParsePage(after, limit string) (string, int, error) {
	if after != "" {
		if err := ValidateKey(after); err != nil {
			return "", 0, err
		}
	}
	if limit == "" {
		return after, 100, nil
	}
	v, err := strconv.Atoi(limit)
	if err != nil || v < 1 || v > MaxPageSize {
		return "", 0, Errorf(CodeInvalidArgument, "limit must be 1 to %d, got %q", MaxPageSize, limit)
	}
	return after, v, nil
}

// ParseCycle parses "YYYYMM" into its number (e.g. 202611).
func ParseCycle(cycle string) (uint32, error) {
	t, err := time.Parse("200601", cycle)
	if err != nil || len(cycle) != 6 || t.Year() < 1970 {
		return 0, Errorf(CodeInvalidArgument, "cycle %q must be YYYYMM", cycle)
	}
	return uint32(t.Year()*100 + int(t.Month())), nil
}

// FormatCycle turns 202611 into "202611".
func FormatCycle(c uint32) string { return fmt.Sprintf("%06d", c) }

// Validate checks a PutAccountRequest. Zero is a valid credit limit (an
// account that may not spend).
func (r *PutAccountRequest) Validate() error {
	if r.CreditLimit < 0 || r.CreditLimit > MaxAmount {
		return Errorf(CodeInvalidArgument, "credit_limit must be between 0 and %d minor units, got %d", MaxAmount, r.CreditLimit)
	}
	return nil
}

// Validate checks a PayRequest.
func (r *PayRequest) Validate() error {
	if err := ValidateKey(r.Key); err != nil {
		return err
	}
	if err := ValidateAmount("amount", r.Amount); err != nil {
		return err
	}
	if len(r.Merchant) > MaxMerchantLen {
		return Errorf(CodeInvalidArgument, "merchant must be at most %d bytes", MaxMerchantLen)
	}
	if !utf8.ValidString(r.Merchant) {
		return Errorf(CodeInvalidArgument, "merchant must be valid UTF-8")
	}
	for i := 0; i < len(r.Merchant); i++ {
		if c := r.Merchant[i]; c < 0x20 || c == 0x7f {
			return Errorf(CodeInvalidArgument, "merchant byte %d is a control character", i)
		}
	}
	return nil
}

// Validate checks a RepayRequest.
func (r *RepayRequest) Validate() error {
	if err := ValidateKey(r.Key); err != nil {
		return err
	}
	if err := ValidateAmount("amount", r.Amount); err != nil {
		return err
	}
	if r.Cycle != "" {
		return ValidateCycle(r.Cycle)
	}
	return nil
}

// timeLayout is how FormatTime renders a time: RFC 3339, UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders a log timestamp (Unix milliseconds) as RFC 3339 UTC.
// Every replica renders the payment and account it applied, so it writes
// the digits itself rather than interpret timeLayout each time; it gives
// the bytes time.Format gives (TestFormatTimeIsTimeFormat, FuzzFormatTime),
// and leaves years outside 0 to 9999 to time.Format.
func FormatTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(timeLayout)
	}
	h, mi, s := t.Clock()
	var b [24]byte
	digits(b[0:4], y)
	b[4] = '-'
	digits(b[5:7], int(mo))
	b[7] = '-'
	digits(b[8:10], d)
	b[10] = 'T'
	digits(b[11:13], h)
	b[13] = ':'
	digits(b[14:16], mi)
	b[16] = ':'
	digits(b[17:19], s)
	b[19] = '.'
	digits(b[20:23], t.Nanosecond()/int(time.Millisecond))
	b[23] = 'Z'
	return string(b[:])
}

// digits writes v, zero-padded, into all of b.
func digits(b []byte, v int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}
