package fsm

import (
	"encoding/json"
	"strconv"
)

// The hot records (accounts, payments, bills, shard records) are stored as
// the JSON encoding/json writes for them, and every replica must keep
// writing exactly those bytes: the state digest hashes them, and a replica
// of an earlier version reads them. Reflection-based encoding/json was a
// third of the apply path's CPU, so these records have hand-written codecs
// that produce the same bytes (TestRecordCodecsMatchEncodingJSON,
// FuzzRecordDecode):
//
//   - appendJSON writes the record as json.Marshal would; a string that
//     needs escaping (anything but printable ASCII without '"', '\\', '<',
//     '>' and '&') is written by json.Marshal itself.
//   - parseJSON reads only the canonical form appendJSON writes (fields in
//     order, plain integers, strings without escapes) and reports false for
//     anything else, which get then hands to json.Unmarshal: the fast path
//     never decodes a record differently from encoding/json.

// fastRecord is a record with hand-written JSON codecs.
type fastRecord interface {
	appendJSON(b []byte) []byte
	parseJSON(data []byte) bool
}

// encodeRecord is json.Marshal for records, fast for fastRecords.
func encodeRecord(v any) ([]byte, error) {
	switch r := v.(type) {
	case fastRecord:
		return r.appendJSON(make([]byte, 0, 128)), nil
	case accountRec:
		return r.appendJSON(make([]byte, 0, 160)), nil
	case paymentRec:
		return r.appendJSON(make([]byte, 0, 128)), nil
	case billRec:
		return r.appendJSON(make([]byte, 0, 128)), nil
	case shardRec:
		return r.appendJSON(make([]byte, 0, 32)), nil
	}
	return json.Marshal(v)
}

// decodeRecord is json.Unmarshal for records, fast for the canonical form
// of fastRecords.
func decodeRecord(data []byte, v any) error {
	if r, ok := v.(fastRecord); ok && r.parseJSON(data) {
		return nil
	}
	return json.Unmarshal(data, v)
}

func appendKey(b []byte, first bool, name string) []byte {
	if first {
		b = append(b, '{', '"')
	} else {
		b = append(b, ',', '"')
	}
	b = append(b, name...)
	return append(b, '"', ':')
}

func appendInt(b []byte, first bool, name string, v int64) []byte {
	return strconv.AppendInt(appendKey(b, first, name), v, 10)
}

func appendUint(b []byte, first bool, name string, v uint64) []byte {
	return strconv.AppendUint(appendKey(b, first, name), v, 10)
}

// plainString reports whether encoding/json writes s as itself in quotes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func appendJSONString(b []byte, first bool, name, v string) []byte {
	b = appendKey(b, first, name)
	if plainString(v) {
		b = append(b, '"')
		b = append(b, v...)
		return append(b, '"')
	}
	q, _ := json.Marshal(v) // a string always encodes
	return append(b, q...)
}

func (r *accountRec) appendJSON(b []byte) []byte {
	b = appendInt(b, true, "limit", r.Limit)
	b = appendInt(b, false, "used", r.Used)
	b = appendInt(b, false, "pending", r.Pending)
	b = appendInt(b, false, "accepted", r.Accepted)
	b = appendInt(b, false, "repaid", r.Repaid)
	b = appendInt(b, false, "created", r.Created)
	b = appendInt(b, false, "updated", r.Updated)
	b = appendUint(b, false, "last_index", r.LastIndex)
	return append(b, '}')
}

func (r *accountRec) parseJSON(data []byte) bool {
	p := jsonParser{b: data}
	v := *r
	ok := p.intField(true, "limit", &v.Limit) && p.intField(false, "used", &v.Used) &&
		p.intField(false, "pending", &v.Pending) && p.intField(false, "accepted", &v.Accepted) &&
		p.intField(false, "repaid", &v.Repaid) && p.intField(false, "created", &v.Created) &&
		p.intField(false, "updated", &v.Updated) && p.uintField(false, "last_index", &v.LastIndex) && p.end()
	if ok {
		*r = v
	}
	return ok
}

func (r *paymentRec) appendJSON(b []byte) []byte {
	b = appendInt(b, true, "amount", r.Amount)
	b = appendJSONString(b, false, "merchant", r.Merchant)
	b = appendJSONString(b, false, "status", r.Status)
	b = appendInt(b, false, "created", r.Created)
	if r.Posted != 0 {
		b = appendInt(b, false, "posted", r.Posted)
	}
	b = appendUint(b, false, "index", r.Index)
	return append(b, '}')
}

func (r *paymentRec) parseJSON(data []byte) bool {
	p := jsonParser{b: data}
	v := *r // an absent omitempty field keeps its value, as with encoding/json
	ok := p.intField(true, "amount", &v.Amount) && p.stringField(false, "merchant", &v.Merchant) &&
		p.stringField(false, "status", &v.Status) && p.intField(false, "created", &v.Created)
	if ok && p.peekKey(false, "posted") {
		ok = p.intField(false, "posted", &v.Posted) && v.Posted != 0 // omitempty never writes 0
	}
	ok = ok && p.uintField(false, "index", &v.Index) && p.end()
	if ok {
		*r = v
	}
	return ok
}

func (r *billRec) appendJSON(b []byte) []byte {
	first := true
	if r.Statement != 0 {
		b, first = appendInt(b, first, "statement", r.Statement), false
	}
	if r.Statemented != 0 {
		b, first = appendInt(b, first, "statemented", r.Statemented), false
	}
	b = appendInt(b, first, "principal", r.Principal)
	b = appendInt(b, false, "fees", r.Fees)
	b = appendInt(b, false, "paid", r.Paid)
	b = appendInt(b, false, "payments", r.Payments)
	b = appendInt(b, false, "updated", r.Updated)
	return append(b, '}')
}

func (r *billRec) parseJSON(data []byte) bool {
	p := jsonParser{b: data}
	v := *r // absent omitempty fields keep their value, as with encoding/json
	first := true
	ok := true
	if p.peekKey(first, "statement") {
		ok, first = p.intField(first, "statement", &v.Statement) && v.Statement != 0, false
	}
	if ok && p.peekKey(first, "statemented") {
		ok, first = p.intField(first, "statemented", &v.Statemented) && v.Statemented != 0, false
	}
	ok = ok && p.intField(first, "principal", &v.Principal) && p.intField(false, "fees", &v.Fees) &&
		p.intField(false, "paid", &v.Paid) && p.intField(false, "payments", &v.Payments) &&
		p.intField(false, "updated", &v.Updated) && p.end()
	if ok {
		*r = v
	}
	return ok
}

func (r *shardRec) appendJSON(b []byte) []byte {
	b = appendKey(b, true, "owned")
	b = strconv.AppendBool(b, r.Owned)
	b = appendUint(b, false, "epoch", r.Epoch)
	return append(b, '}')
}

func (r *shardRec) parseJSON(data []byte) bool {
	p := jsonParser{b: data}
	v := *r
	ok := p.key(true, "owned") && p.bool(&v.Owned) && p.uintField(false, "epoch", &v.Epoch) && p.end()
	if ok {
		*r = v
	}
	return ok
}

// jsonParser reads the canonical JSON of a record; any deviation fails it.
type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// key reads `{"name":` (first) or `,"name":`.
func (p *jsonParser) key(first bool, name string) bool {
	sep := byte(',')
	if first {
		sep = '{'
	}
	if p.i+len(name)+4 > len(p.b) || p.b[p.i] != sep || p.b[p.i+1] != '"' ||
		string(p.b[p.i+2:p.i+2+len(name)]) != name || p.b[p.i+2+len(name)] != '"' || p.b[p.i+3+len(name)] != ':' {
		return false
	}
	p.i += len(name) + 4
	return true
}

// peekKey reports whether the key comes next (see key), reading nothing.
func (p *jsonParser) peekKey(first bool, name string) bool {
	q := *p
	return q.key(first, name)
}

// digits reads a canonical unsigned integer: no sign, no leading zero.
func (p *jsonParser) digits() (string, bool) {
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == p.i || (p.b[p.i] == '0' && j-p.i > 1) {
		return "", false
	}
	s := string(p.b[p.i:j])
	p.i = j
	return s, true
}

func (p *jsonParser) intField(first bool, name string, v *int64) bool {
	if !p.key(first, name) {
		return false
	}
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	s, ok := p.digits()
	if !ok || (neg && s == "0") {
		return false
	}
	if neg {
		s = "-" + s
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false
	}
	*v = n
	return true
}

func (p *jsonParser) uintField(first bool, name string, v *uint64) bool {
	if !p.key(first, name) {
		return false
	}
	s, ok := p.digits()
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return false
	}
	*v = n
	return true
}

// stringField reads a string of plain characters (see plainString).
func (p *jsonParser) stringField(first bool, name string, v *string) bool {
	if !p.key(first, name) || p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	j := p.i + 1
	for j < len(p.b) && p.b[j] != '"' {
		c := p.b[j]
		if c < 0x20 || c > 0x7e || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
		j++
	}
	if j >= len(p.b) {
		return false
	}
	*v = string(p.b[p.i+1 : j])
	p.i = j + 1
	return true
}

func (p *jsonParser) bool(v *bool) bool {
	switch {
	case p.lit("true"):
		*v = true
	case p.lit("false"):
		*v = false
	default:
		return false
	}
	return true
}

func (p *jsonParser) end() bool { return p.i == len(p.b)-1 && p.b[p.i] == '}' }
