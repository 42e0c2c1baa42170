package zone

// ID names a zone.
type ID string

// Router says which zone owns a user's shard (user % fsm.NumShards).
// Implementations are safe for concurrent use. In cluster mode the meta
// group's route table answers (fsm.MetaState.Route); Router serves the
// one-zone deployment.
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
