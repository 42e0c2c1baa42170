package fsm

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

var oddStrings = []string{"", "m", "books & more", "<script>", "tab\there", "line\nfeed", `quote"d`, `back\slash`,
	"ünïcödé", "\u2028\u2029", "\x00\x01\x1f", "\xff\xfe invalid", "emoji 🙂", "plain merchant 42", "accepted", "posted"}

func randInt(rng *rand.Rand) int64 {
	switch rng.IntN(6) {
	case 0:
		return 0
	case 1:
		return math.MaxInt64
	case 2:
		return math.MinInt64
	case 3:
		return -rng.Int64N(1_000_000)
	default:
		return rng.Int64N(1 << 50)
	}
}

func randString(rng *rand.Rand) string { return oddStrings[rng.IntN(len(oddStrings))] }

func randRecords(rng *rand.Rand) []any {
	return []any{
		&accountRec{Limit: randInt(rng), Used: randInt(rng), Pending: randInt(rng), Accepted: randInt(rng), Repaid: randInt(rng),
			Created: randInt(rng), Updated: randInt(rng), LastIndex: rng.Uint64()},
		&paymentRec{Amount: randInt(rng), Merchant: randString(rng), Status: randString(rng), Created: randInt(rng), Posted: randInt(rng), Index: rng.Uint64()},
		&billRec{Statement: randInt(rng), Statemented: randInt(rng), Principal: randInt(rng), Fees: randInt(rng), Paid: randInt(rng),
			Payments: randInt(rng), Updated: randInt(rng)},
		&shardRec{Owned: rng.IntN(2) == 0, Epoch: rng.Uint64()},
	}
}

// TestRecordCodecsMatchEncodingJSON: the hand-written codecs write the
// bytes encoding/json writes (stored bytes, and so state digests, must not
// depend on which codec a replica's version has), for values and
// pointers, and read them back to the same record.
func TestRecordCodecsMatchEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	fast := 0
	for i := 0; i < 20_000; i++ {
		for _, rec := range randRecords(rng) {
			want, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []any{rec, reflect.ValueOf(rec).Elem().Interface()} {
				got, err := encodeRecord(v)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%T %+v:\nencoding/json %s\nrzone         %s (%v)", v, rec, want, got, err)
				}
			}
			back := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			if back.(fastRecord).parseJSON(want) {
				fast++
			}
			ref := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			if err := json.Unmarshal(want, ref); err != nil {
				t.Fatal(err)
			}
			back = reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			if err := decodeRecord(want, back); err != nil || !reflect.DeepEqual(back, ref) {
				t.Fatalf("%s read back as %+v, encoding/json reads %+v (%v)", want, back, ref, err)
			}
		}
	}
	if fast < 40_000 {
		t.Fatalf("only %d of 80000 records took the fast path", fast)
	}
}

// FuzzRecordDecode: for any bytes and any record the fast path accepts,
// the result is the record encoding/json makes of them, over the same
// starting value.
func FuzzRecordDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 50; i++ {
		for _, rec := range randRecords(rng) {
			data, _ := json.Marshal(rec)
			f.Add(data, uint8(i))
		}
	}
	f.Add([]byte(`{"amount":01,"merchant":"m","status":"s","created":1,"index":2}`), uint8(1))
	f.Add([]byte(`{"amount":-0,"merchant":"m","status":"s","created":1,"posted":0,"index":2}`), uint8(1))
	f.Add([]byte(`{"statement":0,"principal":1,"fees":2,"paid":3,"payments":4,"updated":5}`), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, seed uint8) {
		starts := randRecords(rand.New(rand.NewPCG(uint64(seed), 9)))
		for _, start := range starts {
			fastV := reflect.New(reflect.TypeOf(start).Elem())
			fastV.Elem().Set(reflect.ValueOf(start).Elem())
			if !fastV.Interface().(fastRecord).parseJSON(data) {
				continue
			}
			ref := reflect.New(reflect.TypeOf(start).Elem())
			ref.Elem().Set(reflect.ValueOf(start).Elem())
			if err := json.Unmarshal(data, ref.Interface()); err != nil {
				t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
			}
			if !reflect.DeepEqual(fastV.Interface(), ref.Interface()) {
				t.Fatalf("%q: fast path %+v, encoding/json %+v", data, fastV.Interface(), ref.Interface())
			}
		}
	})
}
