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

// ingest writes records exported from another zone. Records come whole
// users at a time (Validate checks each user's records add up), and a
// user's records replace whatever this zone held of the user (a copy left
// from an earlier ownership). It refuses records of a shard this zone owns
// (they would overwrite live state) and any ingest in a standalone zone
// (it owns every shard), and rebuilds the unposted index for accepted
// payments under this entry's index; outbox entries and effect records are
// carried as ingestEffect says.
func (a *applier) ingest(c *Command) Result {
	if a.tx.Bucket(bucketMeta).Get(keySharded) == nil {
		return Result{Code: Invalid, Msg: "a standalone zone owns every shard: it takes no shard moves"}
	}
	users, _ := groupRecords(c.Records, -1, moveBuckets) // checked by Validate
	ids := sortedUsers(users)
	for _, u := range ids {
		if ok, _ := owns(a.tx, u); ok {
			return Result{Code: Invalid, Msg: fmt.Sprintf("shard %d is owned here; refusing to overwrite it", u%NumShards)}
		}
	}
	for _, u := range ids {
		a.dropUser(u)
	}
	for _, r := range c.Records {
		if a.ingestEffect(r) {
			continue
		}
		if err := a.tx.Bucket([]byte(r.Bucket)).Put(r.Key, r.Value); err != nil {
			// Validate checked bucket and key; bbolt refuses only an
			// empty or oversized key, or a failing transaction.
			panic(fmt.Sprintf("fsm: ingest: %v", err))
		}
		if r.Bucket == string(bucketPayments) {
			var p paymentRec
			decode(r.Value, &p) // checked by Validate
			if p.Status == api.PaymentAccepted {
				user := binary.BigEndian.Uint64(r.Key[:8])
				p.Index = a.index
				put(a.tx.Bucket(bucketPayments), r.Key, p)
				if err := a.tx.Bucket(bucketUnposted).Put(unpostedKey(a.index, user, string(r.Key[8:])), nil); err != nil {
					// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
					panic(fmt.Sprintf("fsm: ingest unposted: %v", err))
				}
			}
		}
	}
	return Result{Code: OK}
}

// dropUser deletes user's records from the shard buckets, with the
// unposted index entries of its accepted payments.
func (a *applier) dropUser(user uint64) {
	prefix := be64(user)
	for _, name := range shardBuckets {
		b := a.tx.Bucket(name)
		var keys [][]byte
		cur := b.Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			keys = append(keys, bytes.Clone(k))
			if string(name) == string(bucketPayments) {
				var p paymentRec
				decode(v, &p)
				if p.Status == api.PaymentAccepted {
					if err := a.tx.Bucket(bucketUnposted).Delete(unpostedKey(p.Index, user, string(k[8:]))); err != nil {
						// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
						panic(fmt.Sprintf("fsm: ingest unindex: %v", err))
					}
				}
			}
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
				panic(fmt.Sprintf("fsm: ingest drop: %v", err))
			}
		}
	}
}

// moveBuckets are the buckets a shard move carries.
var moveBuckets = slices.Concat(shardBuckets, effectBuckets)
