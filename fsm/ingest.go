package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"

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
// transaction. Unposted payments are exported as their payment records; the
// importing zone rebuilds its own unposted index.
func (f *FSM) ExportShard(shard int) ([]Record, error) {
	var out []Record
	err := f.view(func(tx *bolt.Tx) error {
		for _, name := range shardBuckets {
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				if len(k) >= 8 && int(binary.BigEndian.Uint64(k[:8])%NumShards) == shard {
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
// shard this zone owns (they would overwrite live state) and rebuilds the
// unposted index for accepted payments under this entry's index.
func (a *applier) ingest(c *Command) Result {
	for _, r := range c.Records {
		if !isShardBucket(r.Bucket) || len(r.Key) < 8 {
			return Result{Code: Invalid, Msg: fmt.Sprintf("record for bucket %q is not shard data", r.Bucket)}
		}
		user := binary.BigEndian.Uint64(r.Key[:8])
		if ok, _ := owns(a.tx, user); ok && a.tx.Bucket(bucketMeta).Get(keySharded) != nil {
			return Result{Code: Invalid, Msg: fmt.Sprintf("shard %d is owned here; refusing to overwrite it", user%NumShards)}
		}
	}
	for _, r := range c.Records {
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

func isShardBucket(name string) bool {
	for _, b := range shardBuckets {
		if string(b) == name {
			return true
		}
	}
	return false
}
