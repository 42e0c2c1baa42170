package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/rzonedb/rzone/internal/api"
	bolt "go.etcd.io/bbolt"
)

// Record is one raw key/value of a zone's state, as a shard moves between
// zones. Bucket is one of the user-data buckets.
type Record struct {
	Bucket string `json:"bucket"`
	Key    []byte `json:"key"`
	Value  []byte `json:"value"`
}

// shardBuckets are the buckets whose keys start with the big-endian user id
// (unposted's start with the log index: handled apart).
var shardBuckets = [][]byte{bucketAccounts, bucketPayments, bucketRepayments, bucketBills}

// ExportShard returns every record of the users of shard, in one read
// transaction: their data and what makes their scheduler effects happen
// once (effectBuckets). Unposted payments are exported as their payment
// records, undelivered notifications as their outbox entries; the
// importing zone rebuilds its own indexes.
func (f *FSM) ExportShard(shard int) ([]Record, error) {
	return f.exportShard(shard, slices.Concat(shardBuckets, effectBuckets))
}

// exportShard returns the records of the users of shard in buckets, in one
// read transaction.
func (f *FSM) exportShard(shard int, buckets [][]byte) ([]Record, error) {
	var out []Record
	err := f.view(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				if u, ok := RecordUser(string(name), k); ok && int(u%NumShards) == shard {
					out = append(out, Record{Bucket: string(name), Key: bytes.Clone(k), Value: bytes.Clone(v)})
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// ingest writes records exported from another zone. It refuses records of a
// shard this zone owns (they would overwrite live state), rebuilds the
// unposted index for accepted payments under this entry's index, and
// carries outbox entries and effect records as ingestEffect says.
func (a *applier) ingest(c *Command) Result {
	for _, r := range c.Records {
		user, ok := RecordUser(r.Bucket, r.Key)
		if !isShardBucket(r.Bucket) || !ok || (r.Bucket == string(bucketOutbox) && len(r.Key) != 16) {
			return Result{Code: Invalid, Msg: fmt.Sprintf("record for bucket %q is not shard data", r.Bucket)}
		}
		if ok, _ := owns(a.tx, user); ok && a.tx.Bucket(bucketMeta).Get(keySharded) != nil {
			return Result{Code: Invalid, Msg: fmt.Sprintf("shard %d is owned here; refusing to overwrite it", user%NumShards)}
		}
	}
	for _, r := range c.Records {
		if a.ingestEffect(r) {
			continue
		}
		if r.Bucket == string(bucketPayments) {
			// A payment this zone holds from before (its shard moved away
			// and back) leaves its old index entry behind.
			var old paymentRec
			if get(a.tx.Bucket(bucketPayments), r.Key, &old) && old.Status == api.PaymentAccepted {
				if err := a.tx.Bucket(bucketUnposted).Delete(unpostedKey(old.Index, binary.BigEndian.Uint64(r.Key[:8]), string(r.Key[8:]))); err != nil {
					panic(fmt.Sprintf("fsm: ingest unposted: %v", err))
				}
			}
		}
		if err := a.tx.Bucket([]byte(r.Bucket)).Put(r.Key, r.Value); err != nil {
			panic(fmt.Sprintf("fsm: ingest: %v", err))
		}
		if r.Bucket == string(bucketPayments) {
			var p paymentRec
			decode(r.Value, &p)
			if p.Status == api.PaymentAccepted {
				user := binary.BigEndian.Uint64(r.Key[:8])
				p.Index = a.index
				put(a.tx.Bucket(bucketPayments), r.Key, p)
				if err := a.tx.Bucket(bucketUnposted).Put(unpostedKey(a.index, user, string(r.Key[8:])), nil); err != nil {
					panic(fmt.Sprintf("fsm: ingest unposted: %v", err))
				}
			}
		}
	}
	return Result{Code: OK}
}

// isShardBucket reports whether name is a bucket a shard move carries.
func isShardBucket(name string) bool {
	for _, b := range slices.Concat(shardBuckets, effectBuckets) {
		if string(b) == name {
			return true
		}
	}
	return false
}
