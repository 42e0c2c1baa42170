package fsm

import (
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
	_ = f.view(func(tx *bolt.Tx) error {
		ok, epoch = owns(tx, user)
		return nil
	})
	return ok, epoch
}
