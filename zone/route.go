package zone

// Shards is the number of shards; a user's shard is user % Shards.
const Shards = 100

// Shard is a unit of routing and of moving data.
type Shard uint8

// ShardOf returns the shard of a user.
func ShardOf(user uint64) Shard { return Shard(user % Shards) }

// ID names a zone.
type ID string

// Router says which zone owns a user's shard. Implementations are safe for
// concurrent use.
type Router interface {
	// Route returns the zone that owns user's shard and the route epoch
	// the answer comes from.
	Route(user uint64) (zone ID, epoch uint64)
}

// Single is the Router of a one-zone deployment: it owns every shard at
// epoch 1.
type Single ID

// Route implements Router.
func (s Single) Route(uint64) (ID, uint64) { return ID(s), 1 }
