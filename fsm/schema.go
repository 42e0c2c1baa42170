package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the state file. Keys start with the big-endian user id so that
// one user's records sit together and iterate in a fixed order.
var (
	bucketMeta       = []byte("meta")       // "applied" -> be64 last applied log index
	bucketAccounts   = []byte("accounts")   // be64(user) -> accountRec
	bucketPayments   = []byte("payments")   // be64(user) key -> paymentRec
	bucketUnposted   = []byte("unposted")   // be64(index) be64(user) key -> empty
	bucketRepayments = []byte("repayments") // be64(user) key -> repaymentRec
	bucketBills      = []byte("bills")      // be64(user) be32(cycle) -> billRec
	bucketNodes      = []byte("nodes")      // node id -> nodeRec
	bucketShards     = []byte("shards")     // shard byte -> shardRec

	allBuckets = [][]byte{bucketMeta, bucketAccounts, bucketPayments, bucketUnposted, bucketRepayments, bucketBills, bucketNodes, bucketShards, bucketMarks, bucketEffects, bucketOutbox, bucketIsolated, bucketFPays, bucketMerged, bucketUndelivered, bucketFBase}

	keyApplied = []byte("applied")
	// keySharded is set once the zone has been given shards; before that
	// (a standalone zone) it owns every user.
	keySharded = []byte("sharded")
)

// accountRec is an account as stored. Lifetime totals keep the money
// identity checkable from one record: Used+Pending == Accepted-Repaid.
type accountRec struct {
	Limit     int64  `json:"limit"`
	Used      int64  `json:"used"`
	Pending   int64  `json:"pending"`
	Accepted  int64  `json:"accepted"`
	Repaid    int64  `json:"repaid"`
	Created   int64  `json:"created"`
	Updated   int64  `json:"updated"`
	LastIndex uint64 `json:"last_index"` // log index of the last write
}

type paymentRec struct {
	Amount   int64  `json:"amount"`
	Merchant string `json:"merchant"`
	Status   string `json:"status"`
	Created  int64  `json:"created"`
	Posted   int64  `json:"posted,omitempty"`
	Index    uint64 `json:"index"`
}

type allocRec struct {
	Cycle  uint32 `json:"cycle"`
	Amount int64  `json:"amount"`
}

type repaymentRec struct {
	Amount  int64      `json:"amount"`
	Cycle   uint32     `json:"cycle,omitempty"`
	Status  string     `json:"status"`
	Alloc   []allocRec `json:"alloc,omitempty"`
	Owed    int64      `json:"owed"` // what was owed when it was decided
	Created int64      `json:"created"`
	Index   uint64     `json:"index"`
}

type billRec struct {
	// Statement is the amount the cycle's statement said was due, and
	// Statemented when it was made (0: no statement yet).
	Statement   int64 `json:"statement,omitempty"`
	Statemented int64 `json:"statemented,omitempty"`
	Principal   int64 `json:"principal"`
	Fees        int64 `json:"fees"`
	Paid        int64 `json:"paid"`
	Payments    int64 `json:"payments"`
	Updated     int64 `json:"updated"`
}

func (b *billRec) outstanding() int64 { return b.Principal + b.Fees - b.Paid }

type shardRec struct {
	Owned bool   `json:"owned"`
	Epoch uint64 `json:"epoch"`
}

type nodeRec struct {
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

func userKey(user uint64, key string) []byte {
	b := make([]byte, 0, 8+len(key))
	b = binary.BigEndian.AppendUint64(b, user)
	return append(b, key...)
}

func billKey(user uint64, cycle uint32) []byte {
	b := make([]byte, 0, 12)
	b = binary.BigEndian.AppendUint64(b, user)
	return binary.BigEndian.AppendUint32(b, cycle)
}

func unpostedKey(index, user uint64, key string) []byte {
	b := make([]byte, 0, 16+len(key))
	b = binary.BigEndian.AppendUint64(b, index)
	b = binary.BigEndian.AppendUint64(b, user)
	return append(b, key...)
}

// get decodes the record at k into v and reports whether it was there. The
// JSON decoder copies, so nothing of bbolt's memory outlives the transaction.
func get(b *bolt.Bucket, k []byte, v any) bool {
	data := b.Get(k)
	if data == nil {
		return false
	}
	if err := decodeRecord(data, v); err != nil {
		// Records are written by put, or by ingest and merge after Validate decoded them strictly: a bug in rzone (or a damaged file).
		panic(fmt.Sprintf("fsm: corrupt record in %s at %x: %v", "bucket", k, err))
	}
	return true
}

// has reports whether k is in b. Use it, not Get(k) != nil, for keys stored
// with an empty value: inside the transaction that wrote them, bbolt's Get
// returns nil for those (after commit, an empty slice), so a Get-based check
// would answer differently depending on how entries were batched into
// transactions, and replicas would diverge.
func has(b *bolt.Bucket, k []byte) bool {
	got, _ := b.Cursor().Seek(k)
	return bytes.Equal(got, k)
}

// put stores v at k. A failure inside apply cannot be undone on the other
// replicas, so it panics and the transaction is rolled back.
func put(b *bolt.Bucket, k []byte, v any) {
	data, err := encodeRecord(v)
	if err != nil {
		// Records are plain structs of numbers and strings: marshalling cannot fail but by a bug in rzone.
		panic(fmt.Sprintf("fsm: encode record: %v", err))
	}
	if err := b.Put(k, data); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: put %x: %v", k, err))
	}
}

func readApplied(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bucketMeta).Get(keyApplied)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// CycleOf is the billing cycle (YYYYMM as a number, UTC) of a log timestamp
// in Unix milliseconds.
func CycleOf(ms int64) uint32 {
	t := time.UnixMilli(ms).UTC()
	return uint32(t.Year()*100 + int(t.Month()))
}

// DueDate is the date a cycle's bill is due: the 10th of the next month.
func DueDate(cycle uint32) string {
	y, m := int(cycle/100), time.Month(cycle%100)
	return time.Date(y, m+1, 10, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}
