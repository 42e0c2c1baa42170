package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// NumShards is the number of shards; a user's shard is user % NumShards.
const NumShards = 100

// setShards takes or gives up ownership of shards at an epoch. An older
// epoch never overrides a newer one, so a stale instruction replayed late
// cannot hand a shard back.
func (a *applier) setShards(c *Command) Result {
	b := a.tx.Bucket(bucketShards)
	for _, s := range c.Shards {
		if int(s) >= NumShards {
			return Result{Code: Invalid, Msg: fmt.Sprintf("no shard %d", s)}
		}
	}
	for _, s := range c.Shards {
		var r shardRec
		get(b, []byte{s}, &r)
		if c.Epoch < r.Epoch {
			continue
		}
		put(b, []byte{s}, shardRec{Owned: c.Own, Epoch: c.Epoch})
	}
	if err := a.tx.Bucket(bucketMeta).Put(keySharded, []byte{1}); err != nil {
		// A bbolt write failed (disk or transaction), not a command's content: stop rather than diverge.
		panic(fmt.Sprintf("fsm: mark sharded: %v", err))
	}
	return Result{Code: OK}
}

// owns reports whether the zone owns user's shard, and the shard's epoch. A
// zone never given shards (standalone) owns every user.
func owns(tx *bolt.Tx, user uint64) (bool, uint64) {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keySharded) == nil {
		return true, 0
	}
	var r shardRec
	get(tx.Bucket(bucketShards), []byte{byte(user % NumShards)}, &r)
	if meta.Get(keyPromoted) != nil {
		return false, r.Epoch // a promoted replica serves nothing before its CmdFailover
	}
	return r.Owned, r.Epoch
}

// wrongZone is the result for a command on a user this zone does not own.
func wrongZone(user uint64, epoch uint64) Result {
	return Result{Code: WrongZone, Epoch: epoch,
		Msg: fmt.Sprintf("shard %d of user %d is not owned by this zone (epoch %d)", user%NumShards, user, epoch)}
}

// Shards returns the ownership of every shard the zone was ever given, and
// whether the zone is sharded at all.
func (f *FSM) Shards() (owned map[int]uint64, sharded bool, err error) {
	owned = map[int]uint64{}
	err = f.view(func(tx *bolt.Tx) error {
		sharded = tx.Bucket(bucketMeta).Get(keySharded) != nil
		return tx.Bucket(bucketShards).ForEach(func(k, v []byte) error {
			var r shardRec
			decode(v, &r)
			if r.Owned {
				owned[int(k[0])] = r.Epoch
			}
			return nil
		})
	})
	return owned, sharded, err
}

// Sharded reports whether the zone has been given shards (cluster mode).
func (f *FSM) Sharded() bool {
	var ok bool
	_ = f.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketMeta).Get(keySharded) != nil
		return nil
	})
	return ok
}

// Owns reports whether the zone serves user's shard now (a released or
// moved shard, or a promoted replica not yet set up, does not), and the
// shard's epoch.
func (f *FSM) Owns(user uint64) (bool, uint64) {
	var ok bool
	var epoch uint64
	_ = f.viewLatest(func(tx *bolt.Tx) error {
		ok, epoch = owns(tx, user)
		return nil
	})
	return ok, epoch
}

// effectBuckets hold what makes a scheduler effect happen once per (job,
// cycle, user): the effect records and the outbox, each notification with
// its delivery state. A shard move (ExportShard, CmdIngest, CmdDropShard)
// and a reconciliation (ExportFailoverShard, CmdMerge) carry them with the
// users' data, so that a run of the same job and cycle in the new zone is a
// replay and only one zone delivers a notification.
var effectBuckets = [][]byte{bucketOutbox, bucketEffects}

// RecordUser returns the user a record of a user-keyed bucket belongs to:
// the key's leading big-endian id, or, in the effects bucket (job 0x00
// be32(cycle) be64(user)), its trailing one. It reports false for a key too
// short to hold one.
func RecordUser(bucket string, key []byte) (uint64, bool) {
	if bucket == string(bucketEffects) {
		if len(key) < 13 || key[len(key)-13] != 0 {
			return 0, false
		}
		return binary.BigEndian.Uint64(key[len(key)-8:]), true
	}
	if len(key) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[:8]), true
}

// ingestEffect writes a carried record of effectBuckets and reports whether
// r was one. An effect record is set; an outbox entry is carried by
// carryNote, so an import retried after an unknown outcome adds nothing
// twice, and an undelivered one is indexed for this zone's delivery.
func (a *applier) ingestEffect(r Record) bool {
	switch r.Bucket {
	case string(bucketEffects):
		if err := a.tx.Bucket(bucketEffects).Put(r.Key, nil); err != nil {
			panic(fmt.Sprintf("fsm: ingest effect: %v", err))
		}
		return true
	case string(bucketOutbox):
		var n notificationRec
		decode(r.Value, &n)
		a.carryNote(binary.BigEndian.Uint64(r.Key[:8]), binary.BigEndian.Uint64(r.Key[8:]), n)
		return true
	}
	return false
}

// dropShard removes, from a zone that has given shard up, what could still
// make an effect of the shard's users happen here: their outbox entries
// (with the undelivered index) and their effect records. A move applies it
// on the source once the target has taken the shard's records and before
// the route flips, so the old zone's delivery loop has nothing of the shard
// left to deliver. It is refused while the zone owns the shard, and for a
// shard given up at a later epoch than the command's (a later move's).
func (a *applier) dropShard(c *Command) Result {
	if len(c.Shards) != 1 || int(c.Shards[0]) >= NumShards {
		return Result{Code: Invalid, Msg: "drop needs one shard"}
	}
	shard := c.Shards[0]
	var r shardRec
	get(a.tx.Bucket(bucketShards), []byte{shard}, &r)
	if a.tx.Bucket(bucketMeta).Get(keySharded) == nil || r.Owned || r.Epoch > c.Epoch {
		return Result{Code: Invalid, Msg: fmt.Sprintf("shard %d is not released here at epoch %d (owned %v, epoch %d)", shard, c.Epoch, r.Owned, r.Epoch)}
	}
	for _, name := range effectBuckets {
		b := a.tx.Bucket(name)
		var keys [][]byte
		_ = b.ForEach(func(k, _ []byte) error {
			if u, ok := RecordUser(string(name), k); ok && byte(u%NumShards) == shard {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range keys {
			if string(name) == string(bucketOutbox) {
				var n notificationRec
				get(b, k, &n)
				if n.Delivered == 0 {
					a.unindexUndelivered(binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:]))
				}
			}
			if err := b.Delete(k); err != nil {
				panic(fmt.Sprintf("fsm: drop shard: %v", err))
			}
		}
	}
	return Result{Code: OK}
}
