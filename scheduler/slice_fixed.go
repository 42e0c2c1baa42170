package scheduler

// FixedSlicer cuts tasks of a constant number of users and never splits a running one:
// the baseline that leaves a long tail once there are fewer tasks than slots.
type FixedSlicer struct {
	// Users per task; must be positive.
	Users int64
}

var _ Slicer = FixedSlicer{}

// Size returns s.Users.
func (s FixedSlicer) Size(View) int64 { return max(1, s.Users) }

// Keep returns remaining: a fixed task runs to its end on the slot that leased it.
func (FixedSlicer) Keep(_ View, remaining int64, _ bool) int64 { return remaining }
